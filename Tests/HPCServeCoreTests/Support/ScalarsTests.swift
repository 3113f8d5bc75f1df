import Testing

@testable import HPCServeCore

@Suite struct ScalarsTests {
    @Test func aMarkAfterASeparatorDoesNotHideIt() {
        let word = "--comment=\u{200D}x"
        #expect(word.firstIndex(of: "=") == nil, "the reason for Scalars.swift: '=' and ZWJ are one Character")
        #expect(word.splitOnce(at: "=") == ("--comment", "\u{200D}x"))
        #expect("/\u{301}x".startsWith(scalars: "/"))
        #expect(!"/\u{301}x".hasPrefix("/"))
        #expect("a:\u{903}b".contains(scalar: ":"))
        #expect("1-\u{301}2-3".pieces(at: "-") == ["1", "\u{301}2", "3"])
        #expect("x/\u{200D}".endsWith(scalars: "\u{200D}"))
        #expect("-t\u{301}5".prefix(scalars: 2) == "-t" && "-t\u{301}5".dropping(scalars: 2) == "\u{301}5")
        #expect("abc".splitOnce(at: "=") == ("abc", nil))
        #expect("0123".isASCIIDigits && !"".isASCIIDigits && !"1\u{301}".isASCIIDigits && !"١".isASCIIDigits)
    }
}
