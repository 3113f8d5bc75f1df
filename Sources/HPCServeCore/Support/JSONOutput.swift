import Foundation

/// `--json` output: one line of JSON from an `Encodable` value, keys sorted, `null` kept.
enum JSONOutput {
    static func line(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and optionals cannot fail.
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// What `hpcserve APP --json` and `watch --json` print once the forward works.
struct ReadySession: Encodable {
    var jobID: Int
    var state = "RUNNING"
    var app: String
    var node: String
    var loginSocket: String
    var laptopCommand: String
    var url: String
    var token: String
    var user: String
    var timeLeft: String?
    var log: String
    /// The laptop end's port, when the laptop made the forward (`--host`).
    var laptopPort: Int? = nil

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case state, app, node
        case loginSocket = "login_socket"
        case laptopCommand = "laptop_command"
        case url, token, user
        case timeLeft = "time_left"
        case log
        case laptopPort = "laptop_port"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(jobID, forKey: .jobID)
        try c.encode(state, forKey: .state)
        try c.encode(app, forKey: .app)
        try c.encode(node, forKey: .node)
        try c.encode(loginSocket, forKey: .loginSocket)
        try c.encode(laptopCommand, forKey: .laptopCommand)
        try c.encode(url, forKey: .url)
        try c.encode(token, forKey: .token)
        try c.encode(user, forKey: .user)
        try c.encode(timeLeft, forKey: .timeLeft)  // null when squeue did not say
        try c.encode(log, forKey: .log)
        try c.encodeIfPresent(laptopPort, forKey: .laptopPort)
    }
}

/// One row of `hpcserve list --json`.
struct SessionRow: Encodable {
    var jobID: Int
    var app: String
    var state: String
    var node: String
    var timeLeft: String
    var url: String

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case app, state, node
        case timeLeft = "time_left"
        case url
    }
}
