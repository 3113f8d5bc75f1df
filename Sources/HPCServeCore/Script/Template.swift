import Foundation
import HPCServeTemplates

/// A problem with a template (a user's override, or a bug in ours).
public enum TemplateError: UserFacingError, Equatable {
    case notFound(String)
    case unknownPlaceholder(name: String, template: String)
    case unterminated(template: String)
    case includeTooDeep(template: String)

    public var description: String {
        switch self {
        case let .notFound(name):
            return "no template named \(name); the built-in ones are \(EmbeddedTemplates.names.joined(separator: ", "))"
        case let .unknownPlaceholder(name, template):
            return "template \(template) uses an unknown placeholder {{\(name)}}; fix the template or remove your override"
        case let .unterminated(template):
            return "template \(template) has a '{{' without '}}'; fix the template or remove your override"
        case let .includeTooDeep(template):
            return "template \(template) includes templates more than 4 levels deep; look for an include loop"
        }
    }

    public var exitCode: ExitCode { .failure }
}

/// Where template text comes from: the user's overrides first, then the embedded copies.
public struct TemplateSource: Sendable {
    /// `$XDG_CONFIG_HOME/hpcserve/templates` (or `~/.config/...`), if any.
    public var overrideDirectory: String?
    /// `--template FILE`: replaces the app's own template.
    public var appTemplateFile: String?

    public init(overrideDirectory: String? = nil, appTemplateFile: String? = nil) {
        self.overrideDirectory = overrideDirectory
        self.appTemplateFile = appTemplateFile
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
        var dir: String?
        if let xdg, xdg.startsWith(scalars: "/") {
            dir = xdg + "/hpcserve/templates"
        } else if let home, home.startsWith(scalars: "/") {
            dir = home + "/.config/hpcserve/templates"
        }
        return TemplateSource(overrideDirectory: dir, appTemplateFile: appTemplateFile)
    }

    /// Text of template `name`; `isAppTemplate` lets `--template FILE` take its place.
    public func text(named name: String, isAppTemplate: Bool = false) throws -> String {
        if isAppTemplate, let file = appTemplateFile {
            return try read(file)
        }
        if let dir = overrideDirectory {
            let path = dir + "/" + name
            if FileManager.default.fileExists(atPath: path) { return try read(path) }
        }
        guard let text = EmbeddedTemplates.text(named: name) else { throw TemplateError.notFound(name) }
        return text
    }

    private func read(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw FileError.cannotRead(path: path, reason: "not a readable UTF-8 text file")
        }
    }
}

/// Fills `{{NAME}}` placeholders with prepared values and expands `{{include FILE}}` lines.
/// Values are inserted as they are: callers quote or validate them first.
public enum TemplateEngine {
    public static func render(
        _ name: String, values: [String: String], source: TemplateSource,
        isAppTemplate: Bool = false, depth: Int = 0
    ) throws -> String {
        if depth > 4 { throw TemplateError.includeTooDeep(template: name) }
        let text = try source.text(named: name, isAppTemplate: isAppTemplate)
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw TemplateError.unterminated(template: name)
            }
            let key = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("include ") {
                let file = key.dropFirst("include ".count).trimmingCharacters(in: .whitespaces)
                var included = try render(file, values: values, source: source, depth: depth + 1)
                if included.hasSuffix("\n") { included.removeLast() }
                out += included
            } else if let value = values[key] {
                out += value
            } else {
                throw TemplateError.unknownPlaceholder(name: key, template: name)
            }
            rest = rest[close.upperBound...]
        }
        out += rest
        return out
    }
}
