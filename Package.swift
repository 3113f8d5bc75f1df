// swift-tools-version: 6.0
// hpcserve: interactive servers on Slurm compute nodes, reached safely from a laptop.
// The toolchain only: no package dependencies (login nodes are often offline).
import PackageDescription

// Every file in Templates/ is embedded (a test checks this list, Templates/Templates.swift,
// the files and the apps agree). A list, not a directory listing: SwiftPM caches the manifest.
let templates = [
    "jupyter.sh", "rstudio.sh", "paraview.sh", "runtime.sh", "runtime-tcp.sh", "relay.py",
    "runtime-reverse.sh", "functions.sh", "tunnels.sh", "license.sh", "reverse-tunnel.sh", "tensorboard.sh",
    "web.sh", "code-server.sh", "container.sh",
]

var package = Package(
    name: "hpcserve",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hpcserve", targets: ["hpcserve"])
    ],
    targets: [
        .target(
            name: "HPCServeTemplates",
            path: "Templates",
            exclude: ["README.md"],
            resources: templates.map { .embedInCode($0) }
        ),
        .target(name: "HPCServeCore", dependencies: ["HPCServeTemplates"]),
        .executableTarget(name: "hpcserve", dependencies: ["HPCServeCore"]),
        // Helpers shared by the test targets; not part of the shipped binary.
        .target(name: "HPCServeTestSupport", dependencies: ["HPCServeCore"], path: "Tests/Support"),
        .testTarget(
            name: "HPCServeCoreTests",
            dependencies: ["HPCServeCore", "HPCServeTestSupport"],
            exclude: ["Snapshots"]
        ),
        // Black-box tests of the built binary on the real Slurm + sshd cluster (Tests/Cluster).
        .testTarget(
            name: "EndToEndTests", dependencies: ["HPCServeCore", "HPCServeTestSupport"], path: "Tests/EndToEndTests"),
    ]
)

// One place for settings every target gets.
for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
