import Foundation

/// What a job writes to `connection.json` once its server answers.
public struct ConnectionInfo: Codable, Sendable, Equatable {
    public var version: Int
    public var app: String
    public var jobID: Int
    public var node: String
    public var host: String
    public var port: Int?
    public var socket: String?
    public var reverseSocket: String?
    public var token: String
    public var secretKind: String
    public var user: String
    public var urlPath: String
    public var pid: Int
    public var started: String

    enum CodingKeys: String, CodingKey {
        case version, app, node, host, port, socket, token, user, pid, started
        case jobID = "job_id"
        case reverseSocket = "reverse_socket"
        case secretKind = "secret_kind"
        case urlPath = "url_path"
    }

    /// Where the login-side forward points on the node: the socket, or 127.0.0.1:PORT.
    public var target: String {
        if let socket { return socket }
        return "127.0.0.1:\(port ?? 0)"
    }

    /// Reads `path`; nil when it does not exist yet or is not (yet) a whole file.
    public static func read(_ path: String) -> ConnectionInfo? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ConnectionInfo.self, from: data)
    }
}
