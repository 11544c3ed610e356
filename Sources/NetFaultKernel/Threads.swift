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

/// A mutex with a condition variable, waited on with a wall-clock deadline (a Date).
public final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)  // CLOCK_REALTIME, the clock Date reads
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

    /// Holding the lock: waits for a broadcast or `date`, whichever is first.
    public func wait(until date: Date) {
        let t = date.timeIntervalSince1970
        var ts = timespec(tv_sec: Int(t), tv_nsec: Int((t - t.rounded(.down)) * 1e9))
        _ = pthread_cond_timedwait(cond, mutex, &ts)
    }

    /// `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
