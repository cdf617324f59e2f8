#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# perl.sh: perl under cairn. Debian's perl uses the system malloc, so hashes, regexes, sorts and
# string building all go through cairn. The script prints checksums that must be the same with
# and without cairn preloaded.
source "$(dirname "${BASH_SOURCE[0]}")/preload.sh"

check "cairn starts in perl" require_cairn perl -e 1
check "libcairn is mapped in perl" maps_show_cairn perl -

cat >"$work/workload.pl" <<'EOF'
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

my $seed = 20240611;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed >> 8; }

# Hashes: insert, delete, rebuild, nested structures.
my %h;
for my $i (1 .. 300_000) {
    $h{ sprintf("k%x-%d", rnd(), $i) } = [ $i, "v" x ($i % 13), { n => $i } ];
}
my $n = 0;
for my $k (sort keys %h) { delete $h{$k} if $n++ % 3 == 0; }
my %inv = map { $h{$_}[0] => $_ } keys %h;
my $sum = 0;
$sum += $_ for keys %inv;
print "hash: ", scalar(keys %h), " ", scalar(keys %inv), " $sum\n";

# Strings and regexes.
my @words = map { join "", map { chr(97 + rnd() % 26) } 1 .. (1 + rnd() % 20) } 1 .. 200_000;
my $text = join " ", @words;
my @vowelly = grep { /^[aeiou].*[aeiou]$/ } @words;
(my $copy = $text) =~ s/([aeiou])([^aeiou ]+)/$2$1/g;
my %count;
$count{$1}++ while $text =~ /\b(\w\w\w)\w*\b/g;
print "text: ", length($text), " ", scalar(@vowelly), " ", md5_hex($copy), " ",
    scalar(keys %count), "\n";

# Sorting, in several ways.
my @sorted = sort { length($a) <=> length($b) or $a cmp $b } @words;
my @nums = sort { $b <=> $a } map { rnd() % 1_000_000 } 1 .. 300_000;
my @st = map { $_->[1] } sort { $a->[0] cmp $b->[0] } map { [ scalar reverse($_), $_ ] } @words[0 .. 50_000];
print "sort: $sorted[0] $sorted[-1] $nums[0] $nums[-1] ", md5_hex(join ",", @st[0 .. 999]), "\n";

# Growing and splitting big strings.
my $big = "";
$big .= sprintf("%08d:%s;", $_, $words[$_ % @words]) for 1 .. 200_000;
my @parts = split /;/, $big;
my %by_len;
push @{ $by_len{ length $_ } }, $_ for @parts;
print "big: ", length($big), " ", scalar(@parts), " ",
    join(",", map { "$_=" . scalar @{ $by_len{$_} } } (sort { $a <=> $b } keys %by_len)[0 .. 4]), "\n";
print "checksum: ", md5_hex(join "|", $sum, scalar(@vowelly), @sorted[0 .. 99], @nums[0 .. 99]), "\n";
EOF

workload() {
	perl "$work/workload.pl"
}
run_twice workload
cat "$work/cairn.out"
finish
