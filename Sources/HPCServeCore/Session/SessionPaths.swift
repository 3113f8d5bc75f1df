import Foundation

/// Where sessions live: `~/.hpcserve/jobs/<id>/` (or `$HPCSERVE_DIR/jobs/<id>/`).
public struct SessionPaths: Sendable, Equatable {
    /// Unix socket paths must fit sun_path: 108 bytes with the NUL on Linux, 104 on macOS.
    public static let socketPathLimit = 103
    /// The longest job id we plan for (Slurm's are 32-bit).
    static let longestJobID = "4294967295"

    public let root: String

    public init(root: String) { self.root = root }

    /// The session root from the environment, checked for what sbatch and sockets need.
    public static func fromEnvironment(_ env: [String: String]) throws -> SessionPaths {
        try resolve(dir: env["HPCSERVE_DIR"], home: env["HOME"])
    }

    /// The session root from the context's environment: HPCSERVE_DIR or HOME, each refused
    /// with its name when it is not usable text (see `Context.variable`).
    public static func from(_ context: Context) throws -> SessionPaths {
        if let dir = try context.variable("HPCSERVE_DIR"), !dir.isEmpty { return try SessionPaths(checkedRoot: dir) }
        return try resolve(dir: nil, home: try context.variable("HOME"))
    }

    private static func resolve(dir: String?, home: String?) throws -> SessionPaths {
        if let dir, !dir.isEmpty {
            return try SessionPaths(checkedRoot: dir)
        } else if let home, !home.isEmpty {
            let root = (home.endsWith(scalars: "/") ? home.dropping(lastScalars: 1) : home) + "/.hpcserve"
            return try SessionPaths(checkedRoot: root, from: "HOME")
        }
        throw UsageError("HOME is not set; set HOME or HPCSERVE_DIR to a private directory")
    }

    /// Accepts `root` only if it is absolute, safe in an `#SBATCH --output` line, and short
    /// enough for the sockets a session puts in it. `variable` names where it came from.
    public init(checkedRoot root: String, from variable: String = "HPCSERVE_DIR") throws {
        var scalars = Array(root.unicodeScalars)
        while scalars.count > 1, scalars.last == "/" { scalars.removeLast() }
        let root = String(scalars)
        let origin = variable == "HPCSERVE_DIR" ? "" : " (from \(variable))"
        guard scalars.first == "/" else {
            throw UsageError(
                "session directory \(Validate.show(root))\(origin) is not absolute; set HPCSERVE_DIR to an "
                    + "absolute path"
            )
        }
        let allowed = "_.-/+@~"
        if !scalars.allSatisfy({ Validate.isAlnum($0) || allowed.unicodeScalars.contains($0) }) {
            throw UsageError(
                "session directory \(Validate.show(root))\(origin) has characters sbatch cannot take in "
                    + "--output (spaces, quotes, '%'…); set HPCSERVE_DIR to a plain path"
            )
        }
        self.root = root
        let longest = directory(jobID: Self.longestJobID) + "/server.sock"
        if longest.utf8.count > Self.socketPathLimit {
            throw FileError.socketPathTooLong(path: longest, limit: Self.socketPathLimit)
        }
    }

    public var jobs: String { root + "/jobs" }
    public func directory(jobID: String) -> String { jobs + "/" + jobID }
    /// The job's output file, as an sbatch filename pattern.
    public var outputPattern: String { jobs + "/%j.log" }
    public func log(jobID: String) -> String { jobs + "/" + jobID + ".log" }

    /// Creates `root` and `root/jobs` (0700) or checks they are private: owned by this user,
    /// not a symlink, no group or other bits (ssh's StrictModes rule). Returns created paths.
    @discardableResult
    public func ensurePrivate() throws -> [String] {
        var created: [String] = []
        for dir in [root, jobs] {
            if try Self.ensurePrivateDirectory(dir) { created.append(dir) }
        }
        return created
    }

    /// Returns true if the directory had to be created.
    static func ensurePrivateDirectory(_ path: String) throws -> Bool {
        var st = stat()
        if lstat(path, &st) != 0 {
            guard errno == ENOENT else {
                throw FileError.cannotRead(path: path, reason: String(cString: strerror(errno)))
            }
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw FileError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            guard lstat(path, &st) == 0 else {
                throw FileError.cannotRead(path: path, reason: String(cString: strerror(errno)))
            }
            try check(path, st)
            return true
        }
        try check(path, st)
        return false
    }

    private static func check(_ path: String, _ st: stat) throws {
        if (st.st_mode & S_IFMT) == S_IFLNK {
            throw FileError.unsafeDirectory(path: path, reason: "is a symbolic link")
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            throw FileError.unsafeDirectory(path: path, reason: "is not a directory")
        }
        if st.st_uid != getuid() {
            throw FileError.unsafeDirectory(path: path, reason: "is not owned by you")
        }
        if st.st_mode & 0o077 != 0 {
            let mode = String(st.st_mode & 0o777, radix: 8)
            throw FileError.unsafeDirectory(path: path, reason: "can be used by other users (mode \(mode))")
        }
    }
}
