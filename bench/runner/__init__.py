# SPDX-License-Identifier: MIT
"""The parts of the benchmark runner; bench/run.py is its entry point.

    workloads  what is measured: allocators, workloads, callgrind modes
    measure    the machine, the allocator probe, the timed runs, medians
               and ratios
    redis      the redis workload (server, benchmark client, checks)
    tlb        TLB misses under perf stat
    callgrind  instruction counts under callgrind: of the fast path, and
               of whole workloads for the profiling row set
    report     the Markdown report
    export     latest.csv and latest.json
    charts     the SVG charts
    util       logging, key=value parsing, commands, medians
"""
