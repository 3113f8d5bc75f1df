import Foundation
import HPCServeTemplates

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A problem with a template (a user's override, or a bug in ours).
public enum TemplateError: UserFacingError, Equatable {
    case notFound(String)
    case unknownPlaceholder(name: String, template: String)
    case unterminated(template: String)
    case includeTooDeep(template: String)
    case unknownCondition(name: String, template: String)
    case unbalancedCondition(template: String)
    /// An override that others could have written: refused, as ssh refuses a writable config.
    case unsafeOverride(path: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let name) where name == "common.sh":
            return
                "no template named common.sh: it is runtime.sh now, included at the end of an app template "
                + "that defines hpcserve_setup, hpcserve_launch and hpcserve_prepare_app; see "
                + "Templates/jupyter.sh and update your override"
        case .notFound(let name):
            return "no template named \(name); the built-in ones are \(EmbeddedTemplates.names.joined(separator: ", "))"
        case .unknownPlaceholder(let name, let template):
            return
                "template \(template) uses an unknown placeholder {{\(name)}}; fix the template or remove your override"
        case .unterminated(let template):
            return "template \(template) has a '{{' without '}}'; fix the template or remove your override"
        case .includeTooDeep(let template):
            return "template \(template) includes templates more than 4 levels deep; look for an include loop"
        case .unknownCondition(let name, let template):
            return
                "template \(template) uses an unknown condition {{if \(name)}}; fix the template or remove "
                + "your override"
        case .unbalancedCondition(let template):
            return
                "template \(template) has an {{if}}, {{else}} or {{end}} out of place (each stands alone on "
                + "its line, in that order); fix the template or remove your override"
        case .unsafeOverride(let path, let reason):
            return "template override \(Validate.show(path)) \(reason), so someone else could have written it; "
                + "make it yours and not writable by group or others (chmod go-w), or remove it"
        }
    }

    public var exitCode: ExitCode { .failure }
}

/// Where template text comes from: the user's overrides first, then the embedded copies.
///
/// An override is code that runs in every job: it is read only if it is a regular file owned by
/// the user (or root) that neither group nor others can write, in directories that are the same
/// (`trustedDirectories`), as ssh refuses a config file others could write.
public struct TemplateSource: Sendable {
    /// `$XDG_CONFIG_HOME/hpcserve/templates` (or `~/.config/...`), if any.
    public var overrideDirectory: String?
    /// Directories an override is read through, each checked like the file (by default the
    /// override directory; from the environment also `hpcserve/` and the config directory).
    public var trustedDirectories: [String]
    /// `--template FILE`: replaces the app's own template.
    public var appTemplateFile: String?

    /// Longest template file read: a template is a short script.
    static let maxTemplateSize = 1 << 20

    public init(overrideDirectory: String? = nil, appTemplateFile: String? = nil, trustedDirectories: [String]? = nil) {
        self.overrideDirectory = overrideDirectory
        self.appTemplateFile = appTemplateFile
        self.trustedDirectories = trustedDirectories ?? overrideDirectory.map { [$0] } ?? []
    }

    /// The user's template directory from the environment.
    public static func fromEnvironment(_ env: [String: String], appTemplateFile: String? = nil) -> TemplateSource {
        source(xdg: env["XDG_CONFIG_HOME"], home: env["HOME"], appTemplateFile: appTemplateFile)
    }

    /// The user's template directory from the context's environment; XDG_CONFIG_HOME and HOME
    /// are refused with their names when they are not usable text (see `Context.variable`).
    public static func from(_ context: Context, appTemplateFile: String? = nil) throws -> TemplateSource {
        let xdg = try context.variable("XDG_CONFIG_HOME")
        let home = xdg?.startsWith(scalars: "/") == true ? nil : try context.variable("HOME")
        return source(xdg: xdg, home: home, appTemplateFile: appTemplateFile)
    }

    private static func source(xdg: String?, home: String?, appTemplateFile: String?) -> TemplateSource {
        var config: String?
        if let xdg, xdg.startsWith(scalars: "/") {
            config = xdg
        } else if let home, home.startsWith(scalars: "/") {
            config = home + "/.config"
        }
        guard let config else { return TemplateSource(appTemplateFile: appTemplateFile) }
        return TemplateSource(
            overrideDirectory: config + "/hpcserve/templates", appTemplateFile: appTemplateFile,
            trustedDirectories: [config + "/hpcserve/templates", config + "/hpcserve", config])
    }

    /// Text of template `name`; `isAppTemplate` lets `--template FILE` take its place.
    public func text(named name: String, isAppTemplate: Bool = false) throws -> String {
        if isAppTemplate, let file = appTemplateFile {
            switch Self.load(file) {
            case .success(let text): return text
            case .failure(let problem):
                throw UsageError(
                    "--template \(Validate.show(file)) \(problem.reason); give a template file of your own "
                        + "(see Templates/README.md)"
                )
            }
        }
        if let dir = overrideDirectory {
            let path = dir + "/" + name
            var st = stat()
            // Absent (or under something that is not a directory): the embedded copy.
            if lstat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR) {
                for directory in trustedDirectories {
                    if let reason = Self.unsafe(directory) {
                        throw TemplateError.unsafeOverride(path: directory, reason: reason)
                    }
                }
                switch Self.load(path) {
                case .success(let text): return text
                case .failure(let problem):
                    if problem.isUnsafe { throw TemplateError.unsafeOverride(path: path, reason: problem.reason) }
                    throw FileError.cannotRead(path: path, reason: problem.reason)
                }
            }
        }
        guard let text = EmbeddedTemplates.text(named: name) else { throw TemplateError.notFound(name) }
        return text
    }

    /// Why a template file cannot be used.
    struct Problem: Error {
        let reason: String
        /// Others could have written it (as opposed to: missing, unreadable, not text).
        var isUnsafe = false
    }

    /// Reads a template file through one descriptor, checking what was opened: a regular file,
    /// owned by the user or root, not writable by group or others, at most 1 MiB of UTF-8.
    static func load(_ path: String) -> Result<String, Problem> {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // O_NONBLOCK: a FIFO must not hang us
        guard fd >= 0 else { return .failure(Problem(reason: "cannot be read (\(String(cString: strerror(errno))))")) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            return .failure(Problem(reason: "cannot be read (\(String(cString: strerror(errno))))"))
        }
        if (st.st_mode & S_IFMT) != S_IFREG { return .failure(Problem(reason: "is not a regular file")) }
        if let reason = unsafeOwnerOrMode(st) { return .failure(Problem(reason: reason, isUnsafe: true)) }
        if Int(st.st_size) > maxTemplateSize { return .failure(Problem(reason: "is larger than 1 MiB")) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                return .failure(Problem(reason: "cannot be read (\(String(cString: strerror(errno))))"))
            }
            if n == 0 { break }
            bytes += buffer[..<n]
            if bytes.count > maxTemplateSize { return .failure(Problem(reason: "is larger than 1 MiB")) }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(Problem(reason: "is not UTF-8 text"))
        }
        return .success(text)
    }

    /// Why a directory an override is read through is unsafe, or nil (a missing one is fine:
    /// nothing is read through it).
    static func unsafe(_ directory: String) -> String? {
        var st = stat()
        guard stat(directory, &st) == 0 else { return nil }
        return unsafeOwnerOrMode(st)
    }

    private static func unsafeOwnerOrMode(_ st: stat) -> String? {
        if st.st_uid != getuid() && st.st_uid != 0 {
            return "is owned by another user (uid \(st.st_uid))"
        }
        if st.st_mode & 0o022 != 0 {
            return "is writable by " + (st.st_mode & 0o002 != 0 ? "every user" : "its group")
                + " (mode \(String(st.st_mode & 0o777, radix: 8)))"
        }
        return nil
    }
}

/// Fills `{{NAME}}` placeholders with prepared values and expands `{{include FILE}}` lines.
/// Values are inserted as they are: callers quote or validate them first.
///
/// Lines between `{{if NAME}}` and `{{else}}` or `{{end}}` (each alone on its line) are kept only
/// when `conditions[NAME]` is true, the ones after `{{else}}` only when it is false (`{{if not
/// NAME}}` the other way round), so a script holds only the parts its job uses. An unknown NAME
/// is an error, like an unknown placeholder.
public enum TemplateEngine {
    public static func render(
        _ name: String, values: [String: String], conditions: [String: Bool] = [:], source: TemplateSource,
        isAppTemplate: Bool = false, depth: Int = 0
    ) throws -> String {
        if depth > 4 { throw TemplateError.includeTooDeep(template: name) }
        let text = try select(
            try source.text(named: name, isAppTemplate: isAppTemplate), conditions: conditions, template: name)
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var rest = Substring(text)
        while let open = Self.firstRange(of: "{{", in: rest) {
            out += rest[..<open.lowerBound]
            guard let close = Self.firstRange(of: "}}", in: rest[open.upperBound...]) else {
                throw TemplateError.unterminated(template: name)
            }
            let key = String(Self.trimmed(rest[open.upperBound..<close.lowerBound]))
            if key.hasPrefix("include ") {
                let file = String(Self.trimmed(key.dropFirst("include ".count)))
                var included = try render(
                    file, values: values, conditions: conditions, source: source, depth: depth + 1)
                if included.hasSuffix("\n") { included.removeLast() }
                out += included
            } else if let value = values[key] {
                out += value
            } else if key.hasPrefix("if ") || key == "else" || key == "end" {
                throw TemplateError.unbalancedCondition(template: name)
            } else {
                throw TemplateError.unknownPlaceholder(name: key, template: name)
            }
            rest = rest[close.upperBound...]
        }
        out += rest
        return out
    }

    /// The lines of `text` its `{{if NAME}}`/`{{else}}`/`{{end}}` lines select, without those lines.
    static func select(_ text: String, conditions: [String: Bool], template: String) throws -> String {
        let all = Substring(text)
        guard
            firstRange(of: "{{if ", in: all) != nil || firstRange(of: "{{else}}", in: all) != nil
                || firstRange(of: "{{end}}", in: all) != nil
        else { return text }
        var kept: [Substring] = []
        var open: [(taken: Bool, inElse: Bool)] = []  // one per enclosing {{if}}
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let word = trimmed(line)
            if word.hasPrefix("{{if "), word.hasSuffix("}}") {
                var condition = String(trimmed(word.dropFirst("{{if ".count).dropLast(2)))
                let negated = condition.hasPrefix("not ")
                if negated { condition = String(trimmed(condition.dropFirst("not ".count))) }
                guard let value = conditions[condition] else {
                    throw TemplateError.unknownCondition(name: condition, template: template)
                }
                open.append((value != negated, false))
            } else if word == "{{else}}" {
                guard let last = open.popLast(), !last.inElse else {
                    throw TemplateError.unbalancedCondition(template: template)
                }
                open.append((!last.taken, true))
            } else if word == "{{end}}" {
                guard open.popLast() != nil else { throw TemplateError.unbalancedCondition(template: template) }
            } else if open.allSatisfy(\.taken) {
                kept.append(line)
            }
        }
        guard open.isEmpty else { throw TemplateError.unbalancedCondition(template: template) }
        return kept.joined(separator: "\n")
    }

    /// Where the ASCII `needle` first occurs in `text`: a plain scan of its UTF-8 (the generic
    /// `firstRange(of:)` instantiates metadata at run time, a visible part of a 10 ms start).
    static func firstRange(of needle: StaticString, in text: Substring) -> Range<String.Index>? {
        let n = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        func scan(_ hay: UnsafeBufferPointer<UInt8>) -> Int? {
            guard let first = n.first, hay.count >= n.count else { return nil }
            var i = 0
            while i <= hay.count - n.count {
                if hay[i] == first {
                    var k = 1
                    while k < n.count, hay[i + k] == n[k] { k += 1 }
                    if k == n.count { return i }
                }
                i += 1
            }
            return nil
        }
        // Native strings are contiguous UTF-8; a bridged one is copied first.
        let found = text.utf8.withContiguousStorageIfAvailable(scan) ?? Array(text.utf8).withUnsafeBufferPointer(scan)
        guard let offset = found else { return nil }
        let lower = text.utf8.index(text.utf8.startIndex, offsetBy: offset)
        return lower..<text.utf8.index(lower, offsetBy: n.count)
    }

    /// `text` without leading and trailing tabs and spaces (Unicode Zs, as `.whitespaces`): in
    /// Swift, not through Foundation's NSString, which was most of `hpcserve script`'s own time.
    static func trimmed(_ text: Substring) -> Substring {
        func isSpace(_ c: Character) -> Bool {
            c.unicodeScalars.count == 1
                && c.unicodeScalars.first.map { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator } == true
        }
        guard let first = text.firstIndex(where: { !isSpace($0) }) else { return text[text.endIndex...] }
        let last = text.lastIndex(where: { !isSpace($0) })!
        return text[first...last]
    }
}
