import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a setting came from, for `hpcserve config` and for messages.
public enum SettingOrigin: Sendable, Equatable, CustomStringConvertible {
    case file(path: String, line: Int)
    case environment(String)
    case commandLine

    public var description: String {
        switch self {
        case .file(let path, let line): return "\(path):\(line)"
        case .environment(let name): return "env \(name)"
        case .commandLine: return "command line"
        }
    }
}

/// One `key = value` (or environment variable, or flag), checked, with where it came from.
public struct Setting: Sendable, Equatable {
    public let key: String
    public let value: String
    public let origin: SettingOrigin
}

/// A key the configuration files know, the flag it stands for, and how its value is checked.
public struct ConfigKey: Sendable {
    public let name: String
    /// The option's long name (`--partition`); nil for a key that has no flag (yet).
    public let flag: String?
    /// Values add up (`module`, `setup`) instead of the last one winning.
    public let repeatable: Bool
    /// A yes/no key that stands for a flag without a value (`reverse_tunnel`).
    public let isSwitch: Bool
    /// Checks one value for an app (nil: the [defaults] section) and returns it as it is kept;
    /// `what` names the value's place for the message (`--partition`, `environment variable …`).
    let check: @Sendable (_ value: String, _ app: AppProfile?) throws -> String

    /// The environment variable for this key (`HPCSERVE_PARTITION`).
    public var environmentVariable: String { "HPCSERVE_" + name.uppercased() }
}

/// A problem in a configuration file: it names the file and line; exit 78.
public enum ConfigError: UserFacingError, Equatable {
    case badValue(path: String, line: Int, key: String, message: String)
    case badLine(path: String, line: Int, message: String)
    case unsafeFile(path: String, reason: String, fix: String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .badValue(let path, let line, let key, let message):
            return "\(path):\(line): \(key): \(message); fix or remove that line"
        case .badLine(let path, let line, let message):
            return "\(path):\(line): \(message)"
        case .unsafeFile(let path, let reason, let fix):
            return "refusing configuration file \(path): \(reason), so another user could change what "
                + "hpcserve runs for you; \(fix)"
        case .unreadable(let path, let reason):
            return "cannot read configuration file \(path): \(reason); fix its permissions or remove it"
        }
    }

    public var exitCode: ExitCode { .config }
}

/// The site's and the user's configuration files and the environment, merged under the command
/// line: site < user < environment < command line. In each file `[defaults]` applies to every
/// app and `[APP]` (later in precedence) to one. Values are checked as the matching flags are.
public struct Configuration: Sendable {
    /// One file as read: its path, whether it exists, and its settings by section.
    public struct File: Sendable, Equatable {
        public let path: String
        public let present: Bool
        /// Settings by section name (`defaults`, `jupyter`), each in file order.
        public var sections: [String: [Setting]] = [:]
    }

    public let site: File
    public let user: File
    public let environment: [Setting]

    /// The keys, in the order `hpcserve config` lists them.
    public static let keys: [ConfigKey] = {
        func job(_ name: String, _ flag: String, repeatable: Bool = false) -> ConfigKey {
            ConfigKey(
                name: name, flag: flag, repeatable: repeatable, isSwitch: false
            ) { value, app in
                let option = ScriptCommand.jobOptions.first { $0.key == flag }!
                var spec = JobSpec(app: app ?? Apps.all[0], sessionRoot: "/")
                try option.apply!(&spec, value)
                if flag == "--listen", let app, !app.listenModes.contains(spec.listen) {
                    throw UsageError(
                        "\(app.title) cannot listen on '\(value)'; use "
                            + app.listenModes.map(\.rawValue).joined(separator: " or "))
                }
                return value
            }
        }
        return [
            ConfigKey(
                name: "login_host", flag: "--login-host", repeatable: false, isSwitch: false
            ) {
                value, _ in try Validate.host(value, option: "login_host")
            },
            job("partition", "--partition"), job("account", "--account"), job("qos", "--qos"), job("time", "--time"),
            job("module", "--module", repeatable: true), job("setup", "--setup", repeatable: true),
            job("listen", "--listen"),
            ConfigKey(
                name: "reverse_tunnel", flag: "--reverse-tunnel", repeatable: false, isSwitch: true
            ) { value, _ in try yesNo(value, allowed: ["yes", "no"]) },
            ConfigKey(
                name: "node_ssh", flag: nil, repeatable: false, isSwitch: false
            ) { value, _ in try yesNo(value, allowed: ["yes", "no", "auto"]) },
            ConfigKey(
                name: "laptop_port", flag: "--laptop-port", repeatable: false, isSwitch: false
            ) {
                value, _ in String(try Validate.port(value, option: "laptop_port"))
            },
            ConfigKey(
                name: "container", flag: "--container", repeatable: false, isSwitch: false
            ) { value, app in
                if let app, !app.runsInContainer {
                    throw UsageError(
                        "\(app.title) cannot run in a container (--container is for "
                            + Apps.all.filter(\.runsInContainer).map(\.name).joined(separator: ", ") + ")")
                }
                return try Validate.containerImage(value, option: "container")
            },
        ]
    }()

    public static func key(_ name: String) -> ConfigKey? { keys.first { $0.name == name } }

    /// yes/no (true/false, on/off, 1/0 read as yes/no), or auto where `allowed` has it.
    static func yesNo(_ value: String, allowed: [String]) throws -> String {
        let v = value.lowercased()
        let word = ["true": "yes", "on": "yes", "1": "yes", "false": "no", "off": "no", "0": "no"][v] ?? v
        guard allowed.contains(word) else {
            throw UsageError("\(Validate.show(value)) is not one of: \(allowed.joined(separator: ", "))")
        }
        return word
    }

    /// The site file's path: HPCSERVE_SITE_CONFIG, else /etc/hpcserve/config.
    public static func sitePath(_ context: Context) throws -> (path: String, overridden: Bool) {
        if let path = try context.variable("HPCSERVE_SITE_CONFIG") { return (context.absolute(path), true) }
        return ("/etc/hpcserve/config", false)
    }

    /// The user file's path: $XDG_CONFIG_HOME/hpcserve/config, else ~/.config/hpcserve/config.
    public static func userPath(_ context: Context) throws -> String? {
        if let xdg = try context.variable("XDG_CONFIG_HOME"), xdg.startsWith(scalars: "/") {
            return xdg + "/hpcserve/config"
        }
        guard let home = try context.variable("HOME") else { return nil }
        return home + "/.config/hpcserve/config"
    }

    /// Reads both files and the environment; warnings (unknown keys, sections) go to stderr.
    public static func load(_ context: Context) throws -> Configuration {
        let (sitePath, overridden) = try sitePath(context)
        let me = getuid()
        // The site file belongs to root; one named by HPCSERVE_SITE_CONFIG may also be the user's own.
        let site = try read(
            sitePath, owners: overridden ? [0, me] : [0], ownerWord: overridden ? "root or you" : "root",
            warn: context.warn)
        let user =
            try userPath(context).map {
                try read($0, owners: [me], ownerWord: "you", warn: context.warn)
            } ?? File(path: "~/.config/hpcserve/config", present: false)
        var environment: [Setting] = []
        for key in keys {
            guard let value = try context.variable(key.environmentVariable) else { continue }
            do {
                environment.append(
                    Setting(
                        key: key.name, value: try key.check(value, nil), origin: .environment(key.environmentVariable)))
            } catch let error as UsageError {
                throw UsageError("environment variable \(key.environmentVariable): \(error.message)")
            }
        }
        return Configuration(site: site, user: user, environment: environment)
    }

    /// Reads one file: missing is fine; unsafe (writable by others, someone else's) is refused.
    /// `owners`: the user ids that may own it.
    public static func read(
        _ path: String, owners: Set<uid_t>, ownerWord: String, warn: (String) -> Void
    ) throws -> File {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return File(path: path, present: false) }
            throw ConfigError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ConfigError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        try checkSafe(path, st, owners: owners, ownerWord: ownerWord)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = systemRead(fd, &buffer, buffer.count)
            if n < 0 { throw ConfigError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > 1 << 20 { throw ConfigError.unreadable(path: path, reason: "it is larger than 1 MiB") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError.unreadable(path: path, reason: "it is not UTF-8 text")
        }
        return try parse(text, path: path, warn: warn)
    }

    /// The ssh rule: a regular file, owned by `owners`, not writable by group or others.
    static func checkSafe(_ path: String, _ st: stat, owners: Set<uid_t>, ownerWord: String) throws {
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw ConfigError.unreadable(path: path, reason: "it is not a regular file")
        }
        if !owners.contains(st.st_uid) {
            throw ConfigError.unsafeFile(
                path: path, reason: "it is owned by user id \(st.st_uid), not by \(ownerWord)",
                fix: "have it owned by \(ownerWord) (chown) or remove it")
        }
        if st.st_mode & 0o022 != 0 {
            throw ConfigError.unsafeFile(
                path: path, reason: "it is writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8)))",
                fix: "fix it with 'chmod go-w \(path)'")
        }
    }

    /// Parses git-config-like text: `[section]`, `key = value`, `#` comment lines.
    public static func parse(_ text: String, path: String, warn: (String) -> Void) throws -> File {
        var file = File(path: path, present: true)
        var section: String?
        var known = true
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw ConfigError.badLine(path: path, line: number, message: "a section header must end with ']'")
                }
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                section = name
                known = name == "defaults" || Apps.named(name) != nil
                if !known {
                    let names = ["defaults"] + Apps.all.map(\.name)
                    let hint = Suggest.closest(to: name, in: names).map { "; did you mean [\($0)]?" } ?? ""
                    warn("\(path):\(number): unknown section [\(name)], its settings are ignored\(hint)")
                }
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw ConfigError.badLine(path: path, line: number, message: "expected 'key = value' or '[section]'")
            }
            let name = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard let section else {
                throw ConfigError.badLine(
                    path: path, line: number, message: "'\(name)' is outside a section; put it under [defaults]")
            }
            guard known else { continue }
            guard let key = key(name) else {
                let hint = Suggest.closest(to: name, in: keys.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
                warn("\(path):\(number): unknown key \(Validate.show(name)), ignored\(hint)")
                continue
            }
            let app = section == "defaults" ? nil : Apps.named(section)
            let checked: String
            do {
                checked = try key.check(value, app)
            } catch let error as UsageError {
                throw ConfigError.badValue(path: path, line: number, key: name, message: error.message)
            }
            if !key.repeatable, file.sections[section]?.contains(where: { $0.key == name }) == true {
                warn("\(path):\(number): \(name) is set again in [\(section)]; the last one counts")
            }
            file.sections[section, default: []].append(
                Setting(key: name, value: checked, origin: .file(path: path, line: number)))
        }
        return file
    }

    /// Every setting for `app` (nil: [defaults] only), lowest precedence first, without the command line.
    public func settings(app: AppProfile?) -> [Setting] {
        var out: [Setting] = []
        for file in [site, user] {
            out += (file.sections["defaults"] ?? []).filter { setting in
                // [defaults] may say listen = socket, or name a container; an app that cannot is left
                // to its own default.
                if setting.key == "container", let app { return app.runsInContainer }
                guard setting.key == "listen", let app, let mode = ListenMode(rawValue: setting.value) else {
                    return true
                }
                return app.listenModes.contains(mode)
            }
            if let app { out += file.sections[app.name] ?? [] }
        }
        return out + environment
    }

    /// The values that count for each key, with the command line on top: a repeatable key's
    /// values add up in precedence order; for the others the highest one wins.
    public func effective(app: AppProfile?, commandLine parsed: ParsedArguments) -> [(ConfigKey, [Setting])] {
        let all = settings(app: app)
        return Self.keys.map { key in
            var values = all.filter { $0.key == key.name }
            if let flag = key.flag, parsed.has(flag) {
                let given = parsed.all(flag).map {
                    Setting(key: key.name, value: key.isSwitch ? "yes" : $0, origin: .commandLine)
                }
                values = key.repeatable ? values + given : given
            }
            if !key.repeatable, let last = values.last { values = [last] }
            return (key, values)
        }
    }

    /// `parsed` with the configured values put in where the command line gave none (and, for
    /// a repeatable option, before the command line's): what the commands then read as flags.
    public func applied(to parsed: ParsedArguments, app: AppProfile?) -> ParsedArguments {
        var out = parsed
        for (key, values) in effective(app: app, commandLine: parsed) {
            guard let flag = key.flag else { continue }
            if key.isSwitch {
                out.values[flag] = values.last?.value == "yes" ? [""] : nil
            } else if !values.isEmpty {
                out.values[flag] = values.map(\.value)
            }
        }
        return out
    }
}

/// read(2), named apart from `Configuration.read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
