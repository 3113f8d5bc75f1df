import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where hpcserve writes: stdout carries only what was asked for, stderr the rest.
public protocol OutputSink: Sendable {
    func stdout(_ text: String)
    func stderr(_ text: String)
}

/// The real terminal streams, written whole and unbuffered, one write at a time.
public struct StandardStreams: OutputSink {
    private let lock = NSLock()
    public init() {}
    public func stdout(_ text: String) { write(1, text) }
    public func stderr(_ text: String) { write(2, text) }

    private func write(_ fd: Int32, _ text: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { buf in
                #if canImport(Glibc)
                    Glibc.write(fd, buf.baseAddress, buf.count)
                #else
                    Darwin.write(fd, buf.baseAddress, buf.count)
                #endif
            }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(n)
        }
    }
}

/// Collects output in memory (tests, or a caller that wants the text).
public final class CapturedOutput: OutputSink, @unchecked Sendable {
    private let lock = NSLock()
    private var out = ""
    private var err = ""
    public init() {}
    public func stdout(_ text: String) {
        lock.lock()
        out += text
        lock.unlock()
    }
    public func stderr(_ text: String) {
        lock.lock()
        err += text
        lock.unlock()
    }
    public var standardOutput: String {
        lock.lock()
        defer { lock.unlock() }
        return out
    }
    public var standardError: String {
        lock.lock()
        defer { lock.unlock() }
        return err
    }
}
