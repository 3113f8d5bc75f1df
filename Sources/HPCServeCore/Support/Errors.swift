/// Process exit codes (sysexits where one fits).
public enum ExitCode: Int32, Sendable {
    case success = 0
    case failure = 1
    case usage = 64
    case unavailable = 69
    case software = 70
    case cannotCreate = 73
    case config = 78
    case interrupted = 130
}

/// An error the user can act on: one line, and the exit code it maps to.
public protocol UserFacingError: Error, CustomStringConvertible {
    var exitCode: ExitCode { get }
}

/// Wrong words on the command line or a value that cannot go into a script.
public struct UsageError: UserFacingError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: ExitCode { .usage }
}

/// A problem with files or directories hpcserve reads or writes.
public enum FileError: UserFacingError, Equatable {
    case cannotWrite(path: String, reason: String)
    case cannotRead(path: String, reason: String)
    case unsafeDirectory(path: String, reason: String)
    case socketPathTooLong(path: String, limit: Int)
    case notOurSocket(path: String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason); check the path and its permissions"
        case .cannotRead(let path, let reason):
            return "cannot read \(path): \(reason); check the path and its permissions"
        case .unsafeDirectory(let path, let reason):
            return "\(path) \(reason); fix it with 'chmod 700 \(path)' (and chown to yourself) or remove it"
        case .notOurSocket(let path):
            return
                "\(path) is in the way of a forward socket and is not a socket of yours; hpcserve removes "
                + "only its own sockets: move it away"
        case .socketPathTooLong(let path, let limit):
            return "socket path \(path) is longer than \(limit) bytes, the Unix socket limit; "
                + "set HPCSERVE_DIR to a shorter directory that only you can use (it is created 0700)"
        }
    }

    public var exitCode: ExitCode {
        switch self {
        case .cannotWrite, .cannotRead: return .cannotCreate
        case .unsafeDirectory, .notOurSocket: return .failure
        case .socketPathTooLong: return .usage  // from HPCSERVE_DIR, HOME or --socket: a value to change
        }
    }
}
