// swift-tools-version: 6.0
// hpcserve: interactive servers on Slurm compute nodes, reached safely from a laptop.
// The toolchain only: no package dependencies (login nodes are often offline).
import Foundation
import PackageDescription

// Every template in Templates/ is embedded: adding an app is a profile and a template file
// (a test checks that the embedded list in Templates/Templates.swift names the same files).
let templates = ((try? FileManager.default.contentsOfDirectory(atPath: Context.packageDirectory + "/Templates")) ?? [])
    .filter { $0.hasSuffix(".sh") || $0.hasSuffix(".py") }
    .sorted()

var package = Package(
    name: "hpcserve",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hpcserve", targets: ["hpcserve"]),
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
        .testTarget(name: "EndToEndTests", dependencies: ["HPCServeCore", "HPCServeTestSupport"], path: "Tests/EndToEndTests"),
    ]
)

// One place for settings every target gets.
for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
