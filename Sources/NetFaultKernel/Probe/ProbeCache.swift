import FoundationEssentials
import Glibc

/// The features found working, kept per boot (boot id and kernel release) so that apply and
/// run do not probe every time. Only successes are kept: a module loaded since is found at once.
public struct ProbeCache: Codable, Sendable, Equatable {
    public struct Key: Codable, Sendable, Equatable {
        public let bootID: String
        public let kernel: String

        public static func current() -> Key {
            let boot =
                (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
                .trimmed ?? ""
            var u = utsname()
            uname(&u)
            let kernel = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return Key(bootID: boot, kernel: kernel)
        }
    }

    public let key: Key
    public var working: Set<KernelFeature>

    public static let fileName = "features.json"

    /// The cache in `directory` if it was written on this boot of this kernel.
    public static func load(from directory: URL, key: Key = .current()) -> ProbeCache {
        let url = directory.appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: url),
            let cache = try? JSONDecoder().decode(ProbeCache.self, from: data),
            cache.key == key, !key.bootID.isEmpty
        else { return ProbeCache(key: key, working: []) }
        return cache
    }

    /// Written whole to a temporary file and renamed, so a reader never sees half of it.
    public func save(to directory: URL) {
        guard let data = try? JSONEncoder().encode(self) else { return }
        let url = directory.appendingPathComponent(Self.fileName)
        let tmp = directory.appendingPathComponent(".\(Self.fileName).\(getpid())")
        do {
            try data.write(to: tmp)
            guard rename(tmp.path, url.path) == 0 else { unlink(tmp.path); return }
        } catch {
            unlink(tmp.path)  // a cache that cannot be written only costs a probe next time
        }
    }

    public static func forget(_ feature: KernelFeature, in directory: URL) {
        var cache = load(from: directory)
        guard cache.working.remove(feature) != nil else { return }
        cache.save(to: directory)
    }

    public mutating func record(_ results: [FeatureResult]) {
        for r in results {
            guard let f = r.kernelFeature else { continue }
            if r.ok { working.insert(f) } else { working.remove(f) }
        }
    }

    /// Results for `features`: cached successes as they are, the rest probed now (and kept).
    public static func results(
        for features: [KernelFeature], in directory: URL,
        probe: (Set<KernelFeature>) -> [FeatureResult] = { FeatureProbe.run(only: $0) }
    ) -> [FeatureResult] {
        var cache = load(from: directory)
        let unknown = Set(features).subtracting(cache.working)
        guard !unknown.isEmpty else {
            return features.map {
                FeatureResult($0, ok: true, detail: "works (found on this boot)", remedy: nil)
            }
        }
        let fresh = probe(unknown)
        cache.record(fresh)
        cache.save(to: directory)
        return features.compactMap { f in
            fresh.first { $0.kernelFeature == f }
                ?? (cache.working.contains(f)
                    ? FeatureResult(f, ok: true, detail: "works (found on this boot)", remedy: nil) : nil)
        }
    }
}
