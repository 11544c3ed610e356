import NIOConcurrencyHelpers
import NIOCore

extension EventLoopFuture where Value: Sendable {
    /// The future's result, waited for on this thread. NIO's `wait()` refuses any event loop's
    /// thread; serve's API answers on a loop of its own (HTTPServer) and waits here for the
    /// proxies' loops, which never wait for it, so no loop waits for itself.
    func waitedFor() throws -> Value {
        precondition(!eventLoop.inEventLoop, "a loop waiting for its own future would never wake")
        let done = ConditionLock(value: false)
        let outcome = NIOLockedValueBox<Result<Value, any Error>?>(nil)
        whenComplete { result in
            outcome.withLockedValue { $0 = result }
            done.lock()
            done.unlock(withValue: true)
        }
        done.lock(whenValue: true)
        done.unlock()
        return try outcome.withLockedValue { $0! }.get()
    }
}
