import FoundationEssentials
import Glibc

/// Threads and a condition on pthreads: FoundationEssentials, which netfault links instead of
/// Foundation, has no Thread, NSLock or NSCondition.
public final class JoinableThread {
    private var thread = pthread_t()

    /// Starts `body` on a new thread.
    public init(_ body: @escaping () -> Void) throws {
        let work = Unmanaged.passRetained(ThreadWork(body))
        let rc = pthread_create(
            &thread, nil,
            { arg in
                Unmanaged<ThreadWork>.fromOpaque(arg!).takeRetainedValue().body()
                return nil
            }, work.toOpaque())
        guard rc == 0 else {
            work.release()
            throw KernelError(operation: "starting a thread", errno: rc, source: .netfault)
        }
    }

    /// Waits for the thread to end; what it wrote is visible after this returns.
    public func join() { pthread_join(thread, nil) }
}

private final class ThreadWork {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Runs `body` on a new thread and waits for it: setns moves only the calling thread, so the
/// thread that joins a namespace must be one that ends right after.
public func onThread<T>(_ body: @escaping () throws -> T) throws -> T {
    // join() orders the thread's write before the read below.
    nonisolated(unsafe) var result: Result<T, Error>?
    try JoinableThread { result = Result { try body() } }.join()
    return try result!.get()
}

/// A mutex with a condition variable whose timed waits count on CLOCK_MONOTONIC: a wall clock
/// stepped back an hour (`date -s`, NTP) must not turn a 50 ms wait into an hour.
public final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Holding the lock: waits for a broadcast or until CLOCK_MONOTONIC reads `nanoseconds`,
    /// whichever is first (or wakes spuriously: callers check their condition again).
    public func wait(untilMonotonic nanoseconds: UInt64) {
        var ts = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        _ = pthread_cond_timedwait(cond, mutex, &ts)
    }

    /// `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
