import FoundationEssentials
import NIOCore
import NetFaultKernel

/// The proxies and their toxics: what the API shows, kept in step with the forwarders and the
/// backend. Every change runs under one lock and is undone when the backend refuses it, so two
/// clients racing on a proxy never leave a fault that no API object accounts for.
public final class ProxyRegistry: @unchecked Sendable {
    final class Entry {
        var settings: ProxySettings
        var toxics: [Toxic] = []
        let forwarder: ToxicProxy
        /// The forwarder's listener is open.
        var listening = false
        init(settings: ProxySettings, forwarder: ToxicProxy) { self.settings = settings; self.forwarder = forwarder }
        var faults: ProxyFaults {
            ProxyFaults(
                name: settings.name, upstream: settings.upstreamAddress, enabled: settings.enabled,
                toxics: toxics)
        }
    }

    public let backend: ToxicBackend
    let group: any EventLoopGroup
    /// Where proxies may listen: serve passes its --allow-listen policy.
    public let listenPolicy: ListenPolicy
    private let lock = Condition()
    private var proxies: [String: Entry] = [:]

    public init(
        backend: ToxicBackend, group: any EventLoopGroup, listenPolicy: ListenPolicy = .unrestricted
    ) {
        self.backend = backend; self.group = group; self.listenPolicy = listenPolicy
    }

    // MARK: views

    public func list() -> [String: ProxyView] {
        lock.withLock { proxies.mapValues(view) }
    }

    public func proxy(_ name: String) throws(ServeFailure) -> ProxyView {
        try locked { () throws(ServeFailure) in view(try entry(name)) }
    }

    public func toxics(_ proxy: String) throws(ServeFailure) -> [ToxicView] {
        try locked { () throws(ServeFailure) in try entry(proxy).toxics.map(toxicView) }
    }

    public func toxic(_ proxy: String, _ name: String) throws(ServeFailure) -> ToxicView {
        try locked { () throws(ServeFailure) in
            guard let t = try entry(proxy).toxics.first(where: { $0.name == name }) else {
                throw .toxicNotFound
            }
            return toxicView(t)
        }
    }

    /// Every proxy's labels and byte counts, and what the kernel matched for its toxics
    /// (GET /metrics). The backend is asked outside the registry's lock, which a scrape holds
    /// only to copy the proxies.
    public func metrics() -> [ProxyMetrics] {
        let now = lock.withLock { proxies.values.map { ($0.settings, $0.forwarder.traffic.snapshot) } }
        return now.map { settings, traffic in
            ProxyMetrics(
                name: settings.name, listener: settings.listen, upstream: settings.upstream, traffic: traffic,
                toxics: backend.matched(proxy: settings.name))
        }
    }

    // MARK: proxies

    public func create(_ settings: ProxySettings) throws(ServeFailure) -> ProxyView {
        try locked { () throws(ServeFailure) in
            guard proxies[settings.name] == nil else { throw .proxyAlreadyExists }
            return view(try add(settings))
        }
    }

    /// Creates a proxy, started when enabled, with the backend told; nothing stays on failure.
    private func add(_ settings: ProxySettings) throws(ServeFailure) -> Entry {
        let upstream = settings.upstreamAddress
        try listenPolicy.check(settings.listenAddress)
        try backend.check(upstream: upstream)
        let e = Entry(settings: settings, forwarder: ToxicProxy(group: group, upstream: upstream))
        if settings.enabled { try start(e) }
        do {
            try backend.apply(e.faults, to: e.forwarder)
        } catch {
            e.forwarder.stop()
            backend.remove(proxy: settings.name)
            throw ServeFailure(error)
        }
        proxies[settings.name] = e
        return e
    }

    private func start(_ e: Entry) throws(ServeFailure) {
        do {
            let bound = try e.forwarder.start(listen: e.settings.listenAddress)
            e.settings.listen = bound.description
            e.listening = true
        } catch {
            throw .listenFailed(address: "\(e.settings.listenAddress.resolved)", reason: bindFailure(error))
        }
    }

    private func stop(_ e: Entry) {
        e.forwarder.stop()
        e.listening = false
    }

    /// Turns a proxy on or off, as an update with only `enabled` does.
    public func setEnabled(_ name: String, _ enabled: Bool) throws(ServeFailure) -> ProxyView {
        try update(name) { s in
            var s = s
            s.enabled = enabled
            return s
        }
    }

    /// Changes a proxy's settings to what `change` makes of them (an update's fields over its
    /// own), restarting its listener when it moves; nothing changes when any step refuses.
    public func update(_ name: String, _ change: (ProxySettings) throws(ApiError) -> ProxySettings)
        throws(ServeFailure) -> ProxyView
    {
        try locked { () throws(ServeFailure) in
            let e = try entry(name)
            let old = e.settings
            let new = try Self.request { () throws(ApiError) in try change(old) }
            let moved = new.listen != old.listen || new.upstream != old.upstream
            if new.listen != old.listen { try listenPolicy.check(new.listenAddress) }
            if new.upstream != old.upstream { try backend.check(upstream: new.upstreamAddress) }
            func enact(_ s: ProxySettings, restart: Bool) throws(ServeFailure) {
                if restart || !s.enabled { stop(e) }
                e.settings = s
                e.forwarder.setUpstream(s.upstreamAddress)
                if s.enabled && !e.listening { try start(e) }
                try backend.apply(e.faults, to: e.forwarder)
            }
            do {
                try enact(new, restart: moved)
            } catch {
                try? enact(old, restart: moved)
                throw ServeFailure(error)
            }
            return view(e)
        }
    }

    public func delete(_ name: String) throws(ServeFailure) {
        try locked { () throws(ServeFailure) in
            let e = try entry(name)
            stop(e)
            backend.remove(proxy: name)
            proxies[name] = nil
        }
    }

    /// Toxiproxy's populate: one that exists with the same listen and upstream is kept, one that
    /// differs replaced. Every proxy is checked and authorized first, so a refused list changes
    /// nothing; a listener that cannot open stops the list there (as in Toxiproxy).
    public func populate(_ list: [ProxySettings]) -> (proxies: [ProxyView], error: ServeFailure?) {
        lock.withLock {
            var done: [ProxyView] = []
            for s in list where kept(s) == nil {
                do {
                    try listenPolicy.check(s.listenAddress)
                    try backend.check(upstream: s.upstreamAddress)
                } catch {
                    return ([], ServeFailure(error))
                }
            }
            for s in list {
                if let old = proxies[s.name] {
                    if kept(s) != nil {
                        done.append(view(old))
                        continue
                    }
                    stop(old)
                    backend.remove(proxy: s.name)
                    proxies[s.name] = nil
                }
                do {
                    done.append(view(try add(s)))
                } catch {
                    return (done, ServeFailure(error))
                }
            }
            return (done, nil)
        }
    }

    /// The proxy populate keeps for `s`: one of its name with the same upstream and listen.
    private func kept(_ s: ProxySettings) -> Entry? {
        // Compared as Toxiproxy does, resolved: the listen address kept is the bound one
        // ("127.0.0.1:7070"), which a request may name by host ("localhost:7070").
        guard let old = proxies[s.name], old.settings.upstream == s.upstream,
            old.settings.listenAddress == s.listenAddress.resolved || s.listen == ProxySettings.defaultListen
        else { return nil }
        return old
    }

    /// Every proxy enabled and every toxic removed.
    public func reset() throws(ServeFailure) {
        try locked { () throws(ServeFailure) in
            var first: ServeFailure?
            for e in proxies.values.sorted(by: { $0.settings.name < $1.settings.name }) {
                e.toxics = []
                e.settings.enabled = true
                // The backend takes the toxics off even when the listener cannot open again.
                do throws(ServeFailure) { if !e.listening { try start(e) } } catch { first = first ?? error }
                do throws(ServeFailure) {
                    try backend.apply(e.faults, to: e.forwarder)
                } catch {
                    first = first ?? error
                }
            }
            if let first { throw first }
        }
    }

    // MARK: toxics

    /// Adds a toxic made in code, held to the ranges a request is (`Toxic.check`).
    public func addToxic(_ proxy: String, _ toxic: Toxic) throws(ServeFailure) -> ToxicView {
        try addToxic(proxy) { () throws(ApiError) in
            try toxic.check()
            return toxic
        }
    }

    /// Adds the toxic `make` gives, once the proxy is found (a request for a missing proxy gets
    /// 404 before its body is read, as in Toxiproxy).
    public func addToxic(_ proxy: String, _ make: () throws(ApiError) -> Toxic) throws(ServeFailure) -> ToxicView {
        try locked { () throws(ServeFailure) in
            let e = try entry(proxy)
            let toxic = try Self.request(make)
            guard !e.toxics.contains(where: { $0.name == toxic.name }) else { throw .toxicAlreadyExists }
            try backend.check(toxic)
            try change(e) { $0.append(toxic) }
            return toxicView(toxic)
        }
    }

    /// Changes a toxic to what `edit` makes of it; name, type and stream stay, as in Toxiproxy.
    public func updateToxic(_ proxy: String, _ name: String, _ edit: (Toxic) throws(ApiError) -> Toxic)
        throws(ServeFailure) -> ToxicView
    {
        try locked { () throws(ServeFailure) in
            let e = try entry(proxy)
            guard let i = e.toxics.firstIndex(where: { $0.name == name }) else { throw .toxicNotFound }
            let old = e.toxics[i]
            let toxic = try Self.request { () throws(ApiError) in
                var t = try edit(old)
                t.name = old.name; t.stream = old.stream
                guard t.type == old.type else {
                    throw ApiError.badRequestBody.joined("toxic \(name) is a \(old.type.rawValue); its type stays")
                }
                try t.check()
                return t
            }
            try backend.check(toxic)
            try change(e) { $0[i] = toxic }
            return toxicView(toxic)
        }
    }

    public func deleteToxic(_ proxy: String, _ name: String) throws(ServeFailure) {
        try locked { () throws(ServeFailure) in
            let e = try entry(proxy)
            guard let i = e.toxics.firstIndex(where: { $0.name == name }) else { throw .toxicNotFound }
            try change(e) { $0.remove(at: i) }
        }
    }

    /// Applies a change of a proxy's toxics, or leaves them as they were.
    private func change(_ e: Entry, _ edit: (inout [Toxic]) -> Void) throws(ServeFailure) {
        let old = e.toxics
        edit(&e.toxics)
        do {
            try backend.apply(e.faults, to: e.forwarder)
        } catch {
            e.toxics = old
            try? backend.apply(e.faults, to: e.forwarder)
            throw ServeFailure(error)
        }
    }

    /// Stops every forwarder and reverts every fault (SIGTERM).
    public func shutdown() {
        lock.withLock {
            for e in proxies.values { stop(e) }
        }
        backend.shutdown()
    }

    // MARK: helpers

    /// What the API made of a request, its refusal a failure of the request.
    private static func request<T>(_ body: () throws(ApiError) -> T) throws(ServeFailure) -> T {
        do { return try body() } catch { throw .request(error) }
    }

    private func locked<T>(_ body: () throws(ServeFailure) -> T) throws(ServeFailure) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func entry(_ name: String) throws(ServeFailure) -> Entry {
        guard let e = proxies[name] else { throw .proxyNotFound }
        return e
    }

    private func view(_ e: Entry) -> ProxyView {
        ProxyView(
            name: e.settings.name, listen: e.settings.listen, upstream: e.settings.upstream,
            enabled: e.settings.enabled, toxics: e.toxics.map(toxicView))
    }

    private func toxicView(_ t: Toxic) -> ToxicView {
        ToxicView(toxic: t, netfault: .init(backend: backend.name, approximations: backend.notes(for: t)))
    }
}

/// A proxy as the API shows it: Toxiproxy's fields (the JSON sorts its keys).
public struct ProxyView: Encodable, Sendable, Equatable {
    public let name: String
    public let listen: String
    public let upstream: String
    public let enabled: Bool
    public let toxics: [ToxicView]
}

/// A toxic as the API shows it: Toxiproxy's fields, and netfault's own under "netfault".
public struct ToxicView: Encodable, Sendable, Equatable {
    public let toxic: Toxic
    public let netfault: Netfault
    public struct Netfault: Encodable, Sendable, Equatable {
        public let backend: String
        /// Where this backend only approximates what Toxiproxy does.
        public let approximations: [String]
    }

    enum CodingKeys: String, CodingKey { case netfault }
    public func encode(to encoder: Encoder) throws {
        try toxic.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(netfault, forKey: .netfault)
    }
}
