#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The arguments and the environment as the kernel hands them over: bytes, decoded strictly.
///
/// `CommandLine.arguments` turns bytes that are not UTF-8 into U+FFFD (`-o $'out\xff.sh'` would
/// write `out�.sh`), and Foundation's `ProcessInfo.environment` splits `NAME=VALUE` at a
/// `Character` `=`, so it drops an entry whose value starts with a combining mark, and drops
/// one that is not UTF-8. Here an argument that is not UTF-8 is refused, and the environment is
/// split at the first `=` byte; a variable whose value is not UTF-8 is kept aside by name, to
/// be refused if hpcserve reads it (`Context.variable`).
public struct RawInput: Sendable, Equatable {
    /// The arguments, without the program name.
    public var arguments: [[UInt8]]
    /// `NAME=VALUE` entries.
    public var environment: [[UInt8]]

    public init(arguments: [[UInt8]], environment: [[UInt8]]) {
        self.arguments = arguments
        self.environment = environment
    }

    /// This process's argv (without argv[0]) and environ.
    public static func ofThisProcess() -> RawInput {
        var arguments: [[UInt8]] = []
        let argv = CommandLine.unsafeArgv
        for i in 1..<Int(CommandLine.argc) {
            if let p = argv[i] { arguments.append(bytes(p)) }
        }
        var environment: [[UInt8]] = []
        let start: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        if var entry = start {
            while let p = entry.pointee {
                environment.append(bytes(p))
                entry += 1
            }
        }
        return RawInput(arguments: arguments, environment: environment)
    }

    /// The working directory to resolve relative paths against: the absolute path when it is
    /// UTF-8, else "." (the kernel still resolves against the real one; nothing is rewritten).
    public static func workingDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(validating: bytes, as: UTF8.self) ?? "."
    }

    private static func bytes(_ p: UnsafeMutablePointer<CChar>) -> [UInt8] {
        Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
    }

    /// The arguments as text; an argument that is not UTF-8 is a usage error that shows it.
    public func decodedArguments() throws -> [String] {
        try arguments.enumerated().map { index, bytes in
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw UsageError(
                    "argument \(index + 1), \(Validate.show(bytes: bytes)), is not valid UTF-8; hpcserve "
                        + "takes names, values and paths in UTF-8 only"
                )
            }
            return text
        }
    }

    /// The variables whose name and value are UTF-8, and, by name, those whose value is not.
    /// An entry is split at its first `=` byte (a name never contains one); an entry without `=`
    /// or with a name that is not UTF-8 cannot be one hpcserve reads and is left out. Of two
    /// entries with one name the first counts, as for getenv(3).
    public func decodedEnvironment() -> (values: [String: String], undecodable: [String: [UInt8]]) {
        var values: [String: String] = [:]
        var undecodable: [String: [UInt8]] = [:]
        for entry in environment {
            guard let eq = entry.firstIndex(of: UInt8(ascii: "=")),
                let name = String(validating: entry[..<eq], as: UTF8.self),
                values[name] == nil, undecodable[name] == nil
            else { continue }
            let valueBytes = Array(entry[(eq + 1)...])
            if let value = String(validating: valueBytes, as: UTF8.self) {
                values[name] = value
            } else {
                undecodable[name] = valueBytes
            }
        }
        return (values, undecodable)
    }
}
