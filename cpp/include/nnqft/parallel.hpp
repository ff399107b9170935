/// @file parallel.hpp
/// A fork-join pool over numbered tasks (pattern of hnswlib's ParallelFor): workers pull
/// task indices from an atomic counter; the first exception stops the others and is
/// rethrown on the caller; the calling thread only polls (progress, Ctrl-C) so no
/// worker ever calls back into Python.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nnqft {

/// Run task(i, thread, stop) for i in [0, n_tasks) on n_threads threads (thread is the
/// worker's number, for per-thread scratch). `poll` runs on the
/// calling thread about every `poll_interval` and at the end; returning false requests
/// a stop (tasks see `stop` become true and should return early). Returns false if the
/// run was stopped by `poll`.
inline bool parallel_for(std::uint64_t n_tasks, unsigned n_threads,
                         const std::function<void(std::uint64_t, unsigned, const std::atomic<bool>&)>& task,
                         const std::function<bool()>& poll,
                         std::chrono::milliseconds poll_interval = std::chrono::milliseconds(50)) {
    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> stop{false};
    std::atomic<unsigned> running{n_threads};
    std::exception_ptr error;
    std::mutex error_mutex;
    std::mutex done_mutex;
    std::condition_variable done;

    auto worker = [&](unsigned thread) {
        try {
            for (;;) {
                if (stop.load(std::memory_order_relaxed)) break;
                const std::uint64_t i = next.fetch_add(1);
                if (i >= n_tasks) break;
                task(i, thread, stop);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            stop = true;
        }
        {
            std::lock_guard<std::mutex> lock(done_mutex);
            running.fetch_sub(1);
        }
        done.notify_one();
    };

    std::vector<std::thread> threads;
    threads.reserve(n_threads);
    for (unsigned t = 0; t < n_threads; ++t) threads.emplace_back(worker, t);
    bool completed = true;
    auto last = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(done_mutex);
    // Woken as soon as the last worker ends (a short run does not wait out a poll tick:
    // that was up to poll_interval / 5 per call, a fixed cost of every Dask chunk).
    while (!done.wait_for(lock, poll_interval / 5, [&] { return running.load() == 0; })) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last < poll_interval) continue;
        last = now;
        lock.unlock();  // poll may take the GIL: never hold the workers' mutex meanwhile
        if (!stop && !poll()) {
            stop = true;
            completed = false;
        }
        lock.lock();
    }
    lock.unlock();
    for (auto& t : threads) t.join();
    if (error) std::rethrow_exception(error);
    if (completed && !poll()) completed = false;
    return completed;
}

}  // namespace nnqft
