// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "netfault",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "netfault", targets: ["netfault"]),
        // `netfault serve` runs this program, installed beside netfault: SwiftNIO's metadata
        // would add a third of a millisecond to the start of every other netfault command.
        .executable(name: "netfault-serve", targets: ["netfault-serve"]),
        // `netfault matrix` runs this one, for the same reason: it holds the proxy backend too.
        .executable(name: "netfault-matrix", targets: ["netfault-matrix"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // GET /metrics: the Prometheus text format (a registry filled at each scrape).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libnl-3, which opens netlink sockets and moves datagrams (netfault encodes every
        // message), plus static inline wrappers for what Swift cannot import (setns, claims).
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-3.0",
            providers: [.apt(["libnl-3-dev"])]
        ),
        // libnftnl + libmnl: nf_tables objects, their netlink encoding and decoding, the batch buffer.
        .systemLibrary(
            name: "CNFTables",
            pkgConfig: "libnftnl",
            providers: [.apt(["libnftnl-dev", "libmnl-dev"])]
        ),
        // fork + drop privileges + exec for `netfault run`, which Swift cannot do safely; the forked watchdog.
        .systemLibrary(name: "CProcess"),
        // Pure logic: units, targets, fault specs, validation, plans. No syscalls.
        .target(name: "NetFaultCore"),
        // Netlink I/O: message encoding (pure), the socket, traffic control apply/read/revert, probes.
        .target(name: "NetFaultKernel", dependencies: ["NetFaultCore", "CNetlink", "CNFTables"]),
        // Leases, the journal under /run/netfault, the detached watchdog.
        .target(name: "NetFaultLeases", dependencies: [
            "NetFaultCore", "NetFaultKernel", "CProcess",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // `netfault serve`: Toxiproxy's HTTP API (SwiftNIO), the TCP proxies, and the backends
        // that turn toxics into user-space faults or into leases held by the daemon.
        .target(name: "NetFaultServe", dependencies: [
            "NetFaultCore", "NetFaultKernel", "NetFaultLeases",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: [.swiftLanguageMode(.v5)]),
        // The edge every netfault program shares: errors to exit statuses, capability checks.
        .target(name: "NetFaultCommand", dependencies: [
            "NetFaultCore", "NetFaultKernel", "NetFaultLeases", "CProcess",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Linked at a fixed address in release: a position-independent image makes ld.so apply
        // 43,000 relocations at every start, which cost 0.4 ms of a 2.8 ms `--version` here and
        // more than half of it in an emulated VM. netfault-serve and netfault-matrix, which take
        // network input, keep their randomised base; this one takes input only from its caller.
        .executableTarget(name: "netfault", dependencies: [
            "NetFaultCore", "NetFaultKernel", "NetFaultLeases", "NetFaultCommand", "CProcess",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], linkerSettings: [.unsafeFlags(["-Xclang-linker", "-no-pie"], .when(configuration: .release))]),
        // The fault matrix's results and their writers (JSON, JUnit XML, HTML with SVG, a
        // terminal table): pure, so they are tested without a kernel.
        .target(name: "NetFaultMatrixReport"),
        // `netfault matrix`: the scenario file (Yams), running each cell through a lease or the
        // built-in proxy, sampling the command's connections (sock_diag).
        .target(name: "NetFaultMatrix", dependencies: [
            "NetFaultCore", "NetFaultKernel", "NetFaultLeases", "NetFaultCommand", "NetFaultServe",
            "NetFaultMatrixReport",
            .product(name: "Yams", package: "Yams"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "netfault-matrix", dependencies: [
            "NetFaultCommand", "NetFaultMatrix", "NetFaultMatrixReport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "netfault-serve", dependencies: [
            "NetFaultCore", "NetFaultKernel", "NetFaultLeases", "NetFaultCommand", "NetFaultServe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "NetFaultCoreTests", dependencies: ["NetFaultCore"]),
        .testTarget(name: "NetFaultServeTests", dependencies: [
            "NetFaultServe", "NetFaultCore", "NetFaultKernel", "TestSupport",
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "NetFaultMatrixTests", dependencies: [
            "NetFaultMatrix", "NetFaultMatrixReport", "NetFaultCore", "NetFaultServe", "NetFaultLeases",
            "NetFaultKernel", "NetFaultCommand",
        ]),
        .testTarget(name: "NetFaultLeasesTests", dependencies: ["NetFaultLeases", "NetFaultCore"]),
        // The command line's parsing and validation, fuzzed in-process (no kernel access).
        .testTarget(name: "NetFaultCLITests", dependencies: [
            "netfault", "NetFaultCommand", "NetFaultCore", "NetFaultKernel", "NetFaultLeases", "TestSupport",
        ]),
        .testTarget(name: "NetFaultKernelTests",
                    dependencies: ["NetFaultCore", "NetFaultKernel", "CNetlink", "CNFTables", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        // Runs real kernels: skipped with a reason unless NETFAULT_KERNEL_TESTS names the kernel
        // (set by scripts/uml-test inside user-mode Linux).
        .testTarget(name: "NetFaultIntegrationTests", dependencies: ["NetFaultCore", "TestSupport"]),
        // Runs this host's kernel (nf_tables) in fresh network namespaces: skipped with a reason
        // unless NETFAULT_NFT_TESTS is set (by scripts/netns-test).
        .testTarget(name: "NetFaultNFTablesTests", dependencies: ["NetFaultCore", "TestSupport"]),
        // What test targets share: process helpers (posix_spawn, run, stop) for the kernel ones, a
        // seeded generator for the fuzz tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
    ]
)
