import Foundation
import HPCServeTemplates
import Testing

@testable import HPCServeCore

/// Adding an app is one profile (in Apps.all) and one template file: these checks say what
/// else a newcomer has to touch, if anything, and catch a template that nothing uses.
@Suite struct AppsAgreeTests {
    static let templatesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Templates").path

    static var templateFiles: Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: templatesDirectory)) ?? []
        return Set(names.filter { $0.hasSuffix(".sh") || $0.hasSuffix(".py") })
    }

    @Test func everyTemplateFileIsEmbeddedAndNothingElse() {
        #expect(!Self.templateFiles.isEmpty)
        #expect(
            Set(EmbeddedTemplates.names) == Self.templateFiles,
            "Templates/Templates.swift must list exactly the files in Templates/ (add a case for a new one)")
        for name in EmbeddedTemplates.names {
            #expect(EmbeddedTemplates.text(named: name) != nil, "\(name) is listed but not embedded")
        }
    }

    @Test func packageSwiftEmbedsEveryTemplateFile() throws {
        let manifest = try String(contentsOfFile: Self.templatesDirectory + "/../Package.swift", encoding: .utf8)
        let start = try #require(manifest.range(of: "let templates = ["))
        let end = try #require(manifest[start.upperBound...].range(of: "]"))
        let listed = manifest[start.upperBound..<end.lowerBound].split(separator: ",")
            .map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\""))
            }
            .filter { !$0.isEmpty }
        #expect(
            Set(listed) == Self.templateFiles,
            "Package.swift's templates list must name exactly the files in Templates/")
    }

    @Test func everyAppHasItsTemplateAndEveryTemplateIsUsed() throws {
        for app in Apps.all {
            #expect(Self.templateFiles.contains(app.templateName), "\(app.name) has no Templates/\(app.templateName)")
        }
        #expect(Set(Apps.all.map(\.name)).count == Apps.all.count, "two apps share a name")
        var included: Set<String> = []
        for name in EmbeddedTemplates.names {
            let text = try #require(EmbeddedTemplates.text(named: name))
            for line in text.split(separator: "\n") where line.contains("{{include ") {
                let rest = line[line.range(of: "{{include ")!.upperBound...]
                let file = String(rest.prefix { $0 != "}" && $0 != " " })
                #expect(Self.templateFiles.contains(file), "\(name) includes \(file), which is not in Templates/")
                included.insert(file)
            }
        }
        let roots = Set(Apps.all.map(\.templateName)).union(SnippetCommand.templates)
        for file in Self.templateFiles {
            #expect(
                roots.contains(file) || included.contains(file),
                "Templates/\(file) is used by no app, snippet or include")
        }
    }
}
