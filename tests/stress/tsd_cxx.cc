/* SPDX-License-Identifier: MIT */
/* tsd_cxx.cc: C++ thread_local destructors that allocate, run at thread exit.
 *
 * glibc runs thread_local destructors (registered through __cxa_thread_atexit_impl, which
 * itself callocs) in reverse order of construction, before the pthread key destructors; an
 * allocator that tears its thread heap down from either mechanism must still serve the
 * allocations these destructors make. Each thread here has:
 *   early    touched first, so it is registered by the thread's very first allocation
 *   strings  a thread_local container of heap strings, destroyed (freed) at exit
 *   late     touched after the thread has allocated
 *   revived  first touched by late's destructor, so it is constructed during thread exit
 * The destructors use new/delete, std::string, std::vector, std::map, throw and catch an
 * exception, and leave a block for main to check and delete. Threads are std::threads (whose
 * start state is new'd by the creating thread and deleted by the new one). */
#include "check.h"

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace
{

constexpr int kThreads = 64;
constexpr int kAtOnce = 8;

std::atomic<int> early_made{0}, early_gone{0}, late_made{0}, late_gone{0};
std::atomic<int> revived_made{0}, revived_gone{0}, errors{0};

std::mutex orphan_lock;
std::vector<std::string *> orphans; /* reserved up front, filled by destructors */

/* Some work for a destructor: containers, strings, an exception. Returns a checksum. */
unsigned long churn(int seed)
{
	std::map<int, std::string> m;
	for (int i = 0; i < 200; i++)
		m[(i * 7919 + seed) % 1000] =
		    std::string(static_cast<size_t>(20 + i % 90), 'a' + i % 26);
	std::vector<std::unique_ptr<int[]>> arrays;
	for (int i = 0; i < 50; i++) {
		arrays.emplace_back(new int[static_cast<size_t>(100 + i * 50)]);
		arrays.back()[0] = i;
	}
	std::vector<char> big(300 * 1024 + static_cast<size_t>(seed), 'x');
	unsigned long sum = big.size();
	for (auto &kv : m)
		sum += kv.second.size() * static_cast<unsigned long>(kv.first);
	for (auto &a : arrays)
		sum += static_cast<unsigned long>(a[0]);
	try {
		throw std::runtime_error(std::string(300, 'e'));
	} catch (const std::exception &e) {
		sum += std::strlen(e.what());
	}
	return sum;
}

void leave_for_main(int seed)
{
	auto *s = new std::string("left behind at thread exit by " + std::to_string(seed) +
	                          std::string(static_cast<size_t>(seed % 100), '.'));
	std::lock_guard<std::mutex> g(orphan_lock);
	orphans.push_back(s); /* within the reserved capacity: no reallocation */
}

void expect_churn(int seed)
{
	static unsigned long expected[kThreads];
	unsigned long got = churn(seed);
	if (expected[seed] == 0)
		expected[seed] = got; /* per-thread slot: no race */
	else if (expected[seed] != got)
		errors++;
}

struct Revived {
	int seed = -1;
	std::vector<std::string> v;
	void make(int s)
	{
		seed = s;
		revived_made++;
		for (int i = 0; i < 30; i++)
			v.emplace_back(static_cast<size_t>(40 + i), 'r');
	}
	~Revived()
	{
		if (seed < 0)
			return;
		if (v.size() != 30 || v[29].size() != 69)
			errors++;
		expect_churn(seed);
		leave_for_main(seed);
		revived_gone++;
	}
};
thread_local Revived revived;

struct Late {
	int seed = -1;
	std::unique_ptr<std::vector<int>> data;
	~Late()
	{
		if (seed < 0)
			return;
		if (!data || data->size() != 1000 || (*data)[999] != seed + 999)
			errors++;
		expect_churn(seed);
		revived.make(seed); /* constructs a new thread_local during thread exit */
		leave_for_main(seed);
		late_gone++;
	}
};
thread_local Late late;

struct Early {
	int seed = -1;
	char *raw = nullptr;
	~Early()
	{
		if (seed < 0)
			return;
		for (int i = 0; i < 500; i++)
			if (raw[i] != static_cast<char>(seed + i)) {
				errors++;
				break;
			}
		delete[] raw;
		expect_churn(seed);
		leave_for_main(seed);
		early_gone++;
	}
};
thread_local Early early;

thread_local std::vector<std::string> strings;

void thread_body(int seed)
{
	early.seed = seed; /* the registration of early's destructor is the first allocation */
	early_made++;
	early.raw = new char[500];
	for (int i = 0; i < 500; i++)
		early.raw[i] = static_cast<char>(seed + i);

	for (int i = 0; i < 100; i++)
		strings.push_back(std::string(static_cast<size_t>(i * 3), 's'));
	expect_churn(seed);

	late.seed = seed;
	late.data.reset(new std::vector<int>(1000));
	for (int i = 0; i < 1000; i++)
		(*late.data)[static_cast<size_t>(i)] = seed + i;
	late_made++;
}

} // namespace

int main()
{
	orphans.reserve(3 * kThreads);
	for (int i = 0; i < kThreads; i += kAtOnce) {
		std::vector<std::thread> ts;
		for (int j = 0; j < kAtOnce; j++)
			ts.emplace_back(thread_body, i + j);
		for (auto &t : ts)
			t.join();
	}

	CHECK(early_made == kThreads && early_gone == kThreads, "early: %d made, %d destroyed",
	      early_made.load(), early_gone.load());
	CHECK(late_made == kThreads && late_gone == kThreads, "late: %d made, %d destroyed",
	      late_made.load(), late_gone.load());
	CHECK(revived_made == kThreads && revived_gone == kThreads,
	      "revived: %d made, %d destroyed", revived_made.load(), revived_gone.load());
	CHECK(errors == 0, "%d destructors found wrong data", errors.load());

	int bad = 0;
	CHECK(orphans.size() == 3 * kThreads, "%zu blocks left behind", orphans.size());
	for (std::string *s : orphans) {
		if (s->compare(0, 30, "left behind at thread exit by ") != 0)
			bad++;
		delete s;
	}
	CHECK(bad == 0, "%d blocks left behind were corrupted", bad);
	fprintf(stderr, "tsd_cxx: %d threads, %zu blocks left for main\n", kThreads,
	        orphans.size());
	return CHECK_DONE();
}
