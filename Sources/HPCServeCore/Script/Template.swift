import Foundation
import HPCServeTemplates

/// A problem with a template (a user's override, or a bug in ours).
public enum TemplateError: UserFacingError, Equatable {
    case notFound(String)
    case unknownPlaceholder(name: String, template: String)
    case unterminated(template: String)
    case includeTooDeep(template: String)
    case unknownCondition(name: String, template: String)
    case unbalancedCondition(template: String)

    public var description: String {
        switch self {
        case let .notFound(name) where name == "common.sh":
            return "no template named common.sh: it is runtime.sh now, included at the end of an app template that defines hpcserve_setup, hpcserve_launch and hpcserve_prepare_app; see Templates/jupyter.sh and update your override"
        case let .notFound(name):
            return "no template named \(name); the built-in ones are \(EmbeddedTemplates.names.joined(separator: ", "))"
        case let .unknownPlaceholder(name, template):
            return "template \(template) uses an unknown placeholder {{\(name)}}; fix the template or remove your override"
        case let .unterminated(template):
            return "template \(template) has a '{{' without '}}'; fix the template or remove your override"
        case let .includeTooDeep(template):
            return "template \(template) includes templates more than 4 levels deep; look for an include loop"
        case let .unknownCondition(name, template):
            return "template \(template) uses an unknown condition {{if \(name)}}; fix the template or remove your override"
        case let .unbalancedCondition(template):
            return "template \(template) has an {{if}}, {{else}} or {{end}} out of place (each stands alone on its line, in that order); fix the template or remove your override"
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
        var dir: String?
        if let xdg = env["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            dir = xdg + "/hpcserve/templates"
        } else if let home = env["HOME"], home.hasPrefix("/") {
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
        let text = try select(try source.text(named: name, isAppTemplate: isAppTemplate), conditions: conditions, template: name)
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
                var included = try render(file, values: values, conditions: conditions, source: source, depth: depth + 1)
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
        guard text.contains("{{if ") || text.contains("{{else}}") || text.contains("{{end}}") else { return text }
        var kept: [Substring] = []
        var open: [(taken: Bool, inElse: Bool)] = []   // one per enclosing {{if}}
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let word = line.trimmingCharacters(in: .whitespaces)
            if word.hasPrefix("{{if "), word.hasSuffix("}}") {
                var condition = word.dropFirst("{{if ".count).dropLast(2).trimmingCharacters(in: .whitespaces)
                let negated = condition.hasPrefix("not ")
                if negated { condition = condition.dropFirst("not ".count).trimmingCharacters(in: .whitespaces) }
                guard let value = conditions[condition] else {
                    throw TemplateError.unknownCondition(name: condition, template: template)
                }
                open.append((value != negated, false))
            } else if word == "{{else}}" {
                guard let last = open.popLast(), !last.inElse else { throw TemplateError.unbalancedCondition(template: template) }
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
}
