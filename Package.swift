// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    // Lets generic hot-path types (BoundedQueue, JSONValue helpers) specialise across modules
    // instead of instantiating generic metadata per call; measured in BENCHMARKS.md.
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

/// Modules off the event path (the CLI, configuration and composition, the admin server, YAML,
/// rule tests) optimised for size: the package's installed-size bound (issue 12; BENCHMARKS.md,
/// "The package and its link"). The event path (rules, engine, MQTT, store, forwarder, actions)
/// stays at -O.
let coldSwiftSettings: [SwiftSetting] = swiftSettings + [.unsafeFlags(["-Osize"], .when(configuration: .release))]

let package = Package(
    name: "weir",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "weir", targets: ["weir"]),
        .executable(name: "weir-sim", targets: ["weir-sim"]),
        .executable(name: "weir-bench", targets: ["weir-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.25.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        // Process spawning. Foundation trait off: a later issue shrinks the static binary by avoiding Foundation.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2", traits: []),
        // FilePath, which Subprocess's API takes on Linux.
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
    ],
    targets: [
        // C libraries: thin system library targets. Only their one Swift wrapper module imports them.
        .systemLibrary(
            name: "CMosquitto", pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(
            name: "CRocksDB", pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(
            name: "CPCRE2", pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"])]),
        .systemLibrary(
            name: "CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        // libcrypto for the SQL hash functions: libmosquitto links it already (Debian's libssl3).
        .systemLibrary(
            name: "CLibCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),

        .target(
            name: "WeirCore",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: swiftSettings),
        .target(
            name: "WeirRules",
            dependencies: ["WeirCore", "WeirRegex", "WeirYAML", "WeirCrypto"],
            swiftSettings: swiftSettings),
        .target(
            name: "WeirMQTT",
            dependencies: ["CMosquitto", "WeirCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        // C++ over RocksDB's C++ API for the few fault-handling settings the 7.8 C API lacks.
        .target(name: "CRocksDBShim", linkerSettings: [.linkedLibrary("rocksdb")]),
        .target(name: "WeirRocksDB", dependencies: ["CRocksDB", "CRocksDBShim"], swiftSettings: swiftSettings),
        .target(name: "WeirZstd", dependencies: ["CZstd"], swiftSettings: swiftSettings),
        .target(name: "WeirRegex", dependencies: ["CPCRE2"], swiftSettings: swiftSettings),
        .target(name: "WeirYAML", dependencies: ["CYAML"], swiftSettings: coldSwiftSettings),
        .target(name: "WeirCrypto", dependencies: ["CLibCrypto"], swiftSettings: swiftSettings),
        .target(
            name: "WeirStore",
            dependencies: [
                "WeirCore", "WeirRocksDB", "WeirZstd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "WeirForwarder",
            dependencies: [
                "WeirCore", "WeirStore", "WeirZstd", "WeirMQTT",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "WeirActions",
            dependencies: [
                "WeirCore", "WeirRules", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // The engine: routing, windows, schedules, live rules, replay. No configuration, no HTTP, no services.
        .target(
            name: "WeirEngine",
            dependencies: [
                "WeirCore", "WeirRules", "WeirActions", "WeirStore", "WeirForwarder",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // Rule tests in files (`*.test.yaml`): the rules, windows and schedules on a virtual clock.
        .target(
            name: "WeirRuleTesting",
            dependencies: [
                "WeirCore", "WeirRules", "WeirActions",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: coldSwiftSettings),
        .target(
            name: "WeirDaemon",
            dependencies: [
                "WeirCore", "WeirRules", "WeirMQTT", "WeirActions", "WeirRocksDB", "WeirZstd", "WeirStore", "WeirForwarder",
                "WeirEngine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: coldSwiftSettings),
        .executableTarget(
            name: "weir",
            dependencies: [
                "WeirRocksDB", .product(name: "Logging", package: "swift-log"),
                "WeirDaemon", "WeirCore", "WeirRules", "WeirZstd", "WeirRuleTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: coldSwiftSettings,
            // The shipped binary (issue 12; BENCHMARKS.md, "Footprint"): linked by lld without the static
            // stdlib's -export-dynamic (a dynamic symbol table of every symbol, 3 MB) and with relative
            // relocations packed (DT_RELR, glibc 2.36: 1.9 MB of .rela.dyn, and fewer pages written at start).
            linkerSettings: [
                .unsafeFlags(
                    ["-use-ld=lld", "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                    .when(platforms: [.linux], configuration: .release))
            ]),
        .executableTarget(
            name: "weir-sim",
            dependencies: [
                "WeirCore", "WeirMQTT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "weir-bench",
            dependencies: [
                "WeirCore", "WeirMQTT", "WeirStore", "WeirRocksDB", "WeirForwarder", "WeirZstd", "WeirRules", "WeirActions",
                "WeirTestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),

        .testTarget(name: "WeirCoreTests", dependencies: ["WeirCore"], swiftSettings: swiftSettings),
        .testTarget(name: "WeirRulesTests", dependencies: ["WeirRules", "WeirCore"], swiftSettings: swiftSettings),
        .target(
            name: "WeirTestSupport",
            dependencies: [
                "WeirCore", "WeirMQTT", "WeirDaemon", "WeirActions", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/WeirTestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "WeirMQTTTests",
            dependencies: ["WeirMQTT", "WeirCore", "WeirTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .testTarget(name: "WeirRocksDBTests", dependencies: ["WeirRocksDB"], swiftSettings: swiftSettings),
        .testTarget(name: "WeirZstdTests", dependencies: ["WeirZstd"], swiftSettings: swiftSettings),
        .testTarget(name: "WeirRegexTests", dependencies: ["WeirRegex"], swiftSettings: swiftSettings),
        .testTarget(name: "WeirYAMLTests", dependencies: ["WeirYAML"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WeirStoreTests",
            dependencies: [
                "WeirStore", "WeirRocksDB", "WeirZstd", "WeirCore", "WeirTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "WeirForwarderTests",
            dependencies: [
                "WeirForwarder", "WeirStore", "WeirRocksDB", "WeirCore", "WeirZstd", "WeirTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "WeirActionsTests",
            dependencies: [
                "WeirActions", "WeirRules", "WeirCore", "WeirTestSupport", .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "WeirEngineTests",
            dependencies: [
                "WeirEngine", "WeirRules", "WeirCore", "WeirStore", "WeirRocksDB", "WeirTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "WeirRuleTestingTests",
            dependencies: ["WeirRuleTesting", "WeirRules", "WeirCore", "WeirTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "WeirDaemonTests",
            dependencies: [
                "WeirDaemon", "WeirRules", "WeirCore", "WeirTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "WeirDaemon", "WeirMQTT", "WeirRules", "WeirCore", "WeirZstd", "WeirRocksDB", "WeirStore", "WeirForwarder",
                "WeirTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
    ],
    cxxLanguageStandard: .cxx17
)
