import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `-o FILE`: a new file, or a regular file replaced whole (temporary file in the same
/// directory, then rename), keeping its mode. Anything else at that path (a symbolic link, a
/// directory, a device, a FIFO, a socket) is refused: renaming over it would replace it.
public enum OutputFile {
    /// What is at the path before hpcserve writes it.
    public struct Existing: Sendable, Equatable {
        public let mode: mode_t
        public let uid: uid_t
        public let gid: gid_t
        public let links: Int
    }

    /// Names of standard output and error: with `-o`, write the script there by leaving `-o` out.
    static let standardStreams: Set<String> = [
        "-", "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2", "/proc/self/fd/1", "/proc/self/fd/2",
    ]

    /// Checks `path` (absolute) given as `option` (`-o` was `value`): nil when nothing is there
    /// yet, the existing regular file's attributes, or a usage error saying what is there
    /// (also when its directory is missing or not writable: nothing could be written).
    public static func check(_ path: String, value: String, option: String = "-o") throws -> Existing? {
        if standardStreams.contains(value) || standardStreams.contains(path) {
            throw UsageError(
                "\(option) \(Validate.show(value)) is a standard stream; omit \(option) and the script goes "
                    + "to standard output"
            )
        }
        let directory = directory(of: path)
        var dir = stat()
        guard stat(directory, &dir) == 0, (dir.st_mode & S_IFMT) == S_IFDIR else {
            throw UsageError(
                "\(option) \(Validate.show(value)): there is no directory \(Validate.show(directory)); "
                    + "create it first or give another path"
            )
        }
        guard access(directory, W_OK) == 0 else {
            throw UsageError(
                "\(option) \(Validate.show(value)): you cannot write in \(Validate.show(directory)); give a "
                    + "path in a directory you can write"
            )
        }
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw UsageError(
                "\(option) \(Validate.show(value)) cannot be used: \(String(cString: strerror(errno))); "
                    + "give a path in a directory you can write"
            )
        }
        let kind: String
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            guard access(path, W_OK) == 0 else {
                throw UsageError(
                    "\(option) \(Validate.show(value)) is a file you cannot write; hpcserve does not "
                        + "replace it, so give another path"
                )
            }
            return Existing(mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, links: Int(st.st_nlink))
        case S_IFLNK: kind = "a symbolic link"
        case S_IFDIR: kind = "a directory"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFIFO: kind = "a FIFO"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        throw UsageError(
            "\(option) \(Validate.show(value)) is \(kind); hpcserve writes only a new or a regular file, so "
                + "give another path"
                + (kind == "a symbolic link" ? " (or the path the link points to)" : ""))
    }

    /// Writes `text` to `path` through a temporary file in the same directory and a rename.
    /// Returns notes on what changes for an existing file (its owner, its other links);
    /// its permission bits are kept.
    public static func write(_ text: String, to path: String, value: String, option: String = "-o") throws -> [String] {
        let existing = try check(path, value: value, option: option)
        let (fd, temporary) = try createTemporary(in: directory(of: path), for: path)
        var written = false
        defer { if !written { unlink(temporary) } }
        var notes: [String] = []
        do {
            defer { close(fd) }
            if let existing {
                // Same permission bits (set-id bits only if the file stays with its owner).
                let keep = existing.uid == getuid() ? existing.mode : existing.mode & 0o777
                if fchmod(fd, keep) != 0 { throw cannotWrite(path) }
                if existing.mode & 0o7000 != 0, keep != existing.mode {
                    notes.append("\(path) loses its set-user-ID, set-group-ID or sticky bit")
                }
                if existing.uid != getuid() {
                    notes.append("\(path) belonged to uid \(existing.uid); the new file is yours")
                }
                if existing.gid != getgid(), fchown(fd, uid_t.max, existing.gid) != 0 {
                    notes.append("\(path) had group id \(existing.gid); the new file has your group")
                }
                if existing.links > 1 {
                    notes.append("\(path) had \(existing.links) names (hard links); the others keep the old text")
                }
            }
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw cannotWrite(path) }
                bytes = bytes.dropFirst(n)
            }
            if fsync(fd) != 0 { throw cannotWrite(path) }
        }
        // What is there may have changed while the text was written: check again, then rename.
        _ = try check(path, value: value, option: option)
        guard rename(temporary, path) == 0 else { throw cannotWrite(path) }
        written = true
        return notes
    }

    /// The directory `path` is in (what comes before its last `/`).
    static func directory(of path: String) -> String {
        let scalars = path.unicodeScalars
        guard let slash = scalars.lastIndex(of: "/") else { return "." }
        return slash == scalars.startIndex ? "/" : String(scalars[..<slash])
    }

    /// A new file next to `path`, created with mode 0666 less the umask (as any new file).
    private static func createTemporary(in directory: String, for path: String) throws -> (Int32, String) {
        let base = path.unicodeScalars.split(separator: "/").last.map { String($0) } ?? "script"
        let stem = "." + String(base.unicodeScalars.prefix(100)) + ".hpcserve-"
        for _ in 0..<100 {
            let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
            let candidate = directory + "/" + stem + suffix
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666)
            if fd >= 0 { return (fd, candidate) }
            if errno != EEXIST { throw cannotWrite(path) }
        }
        throw FileError.cannotWrite(path: path, reason: "could not create a temporary file next to it")
    }

    private static func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
            Glibc.write(fd, buffer, count)
        #else
            Darwin.write(fd, buffer, count)
        #endif
    }

    private static func cannotWrite(_ path: String) -> FileError {
        FileError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
    }
}
