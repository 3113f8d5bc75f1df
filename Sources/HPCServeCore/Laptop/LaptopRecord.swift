import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the laptop keeps about one session it forwards (`~/.hpcserve/laptop/<host>/<job>.json`):
/// enough for `stop` to close the laptop end, and to know when the master is no longer needed.
struct LaptopRecord: Codable, Equatable {
    var job: String
    var host: String
    var port: Int
    var loginSocket: String
    var url: String

    enum CodingKeys: String, CodingKey {
        case job, host, port, url
        case loginSocket = "login_socket"
    }

    static func path(_ connection: LoginConnection, job: String) -> String { connection.sessions + "/" + job + ".json" }

    static func read(_ connection: LoginConnection, job: String) -> LaptopRecord? {
        guard let data = FileManager.default.contents(atPath: path(connection, job: job)) else { return nil }
        return try? JSONDecoder().decode(LaptopRecord.self, from: data)
    }

    func write(_ connection: LoginConnection) throws {
        _ = try SessionPaths.ensurePrivateDirectory(connection.sessions)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        try PrivateFile.write(Self.path(connection, job: job), String(decoding: data, as: UTF8.self))
    }

    static func remove(_ connection: LoginConnection, job: String) {
        unlink(path(connection, job: job))
    }

    /// Job ids the laptop still forwards through this host's master.
    static func jobs(_ connection: LoginConnection) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: connection.sessions)) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }
}

/// The laptop end's port: the app's own, or the next free one.
enum LaptopPort {
    /// `fixed` (from --laptop-port) when it is free, else an error; otherwise the first free
    /// port from `preferred` on (20 tries), with a note when it is not `preferred`.
    static func choose(fixed: Int?, preferred: Int, skipping: Set<Int> = []) throws -> Int {
        if let fixed {
            guard SocketProbe.loopbackPortIsFree(fixed) else { throw LaptopError.portTaken(fixed) }
            return fixed
        }
        for port in preferred..<min(preferred + 20, 65536) where !skipping.contains(port) {
            if SocketProbe.loopbackPortIsFree(port) { return port }
        }
        throw LaptopError.noFreePort(preferred)
    }
}

/// Browsers: `$BROWSER`, `open` on macOS, `xdg-open` elsewhere.
enum Browser {
    static func argv(url: String, environment: [String: String]) -> [String] {
        if let browser = environment["BROWSER"], !browser.isEmpty { return [browser, url] }
        #if os(macOS)
            return ["open", url]
        #else
            return ["xdg-open", url]
        #endif
    }
}

public enum LaptopError: UserFacingError, Equatable {
    case portTaken(Int)
    case noFreePort(Int)
    case forwardFailed(port: Int, message: String)

    public var description: String {
        switch self {
        case .portTaken(let port):
            return "port \(port) is taken on this laptop; choose another --laptop-port or leave it out"
        case .noFreePort(let port):
            return "ports \(port)-\(port + 19) are all taken on this laptop; give a free one with --laptop-port"
        case .forwardFailed(let port, let message):
            return "cannot forward 127.0.0.1:\(port) on this laptop (\(message)); try another --laptop-port"
        }
    }
    public var exitCode: ExitCode { .failure }
}
