/// The known secret values and every encoded form of each, compiled into one
/// ``MultiPatternMatcher``: what `keyward scan` searches files for and `keyward exec --mask`
/// removes from a child's output (DESIGN.md, "Leak scanning and masked output").
public struct LeakPatternSet: Sendable {
    /// What a value is, for a finding: never the value itself.
    public struct Source: Sendable, Hashable {
        /// Where the value lives, as `entities/<ID>/secret`, `entities/<ID>/token`,
        /// `providers/<NAME>/password`: printed in findings and used in mask markers.
        public let name: String
        /// The version (`v3`) for vault secrets, or `nil`.
        public let version: String?
        /// A short, non-reversible fingerprint of the value (the vault's fingerprint), or `nil`.
        public let fingerprint: String?

        /// A source named `name`.
        public init(name: String, version: String? = nil, fingerprint: String? = nil) {
            self.name = name
            self.version = version
            self.fingerprint = fingerprint
        }
    }

    /// One occurrence of one encoded form of one value.
    public struct Hit: Sendable, Hashable {
        /// Which value was found.
        public let source: Source
        /// In which encoding.
        public let encoding: LeakEncoding
        /// Byte offset of the occurrence's first byte in the searched buffer or stream.
        public let start: Int
        /// Byte offset one past its last byte.
        public let end: Int
    }

    /// The values searched for (in the order given, duplicates of an earlier value dropped).
    public let sources: [Source]
    /// The values not searched for because they are shorter than
    /// ``MultiPatternMatcher/minimumLength`` bytes (`keyward scan --verbose` lists them).
    public let skipped: [Source]
    /// Credentials that could not be read to be searched for (a variable not set), each as
    /// `NAME: reason`; filled by whoever collected the values.
    public var unresolved: [String] = []
    /// The compiled patterns: one per distinct encoded form.
    public let matcher: MultiPatternMatcher
    private let patternSource: [Int]
    private let patternEncoding: [LeakEncoding]
    private let patternEdges: [Base64Edges?]

    /// The line widths at which `base64` (76), `openssl base64` and PEM (64) wrap their output.
    public static let wrappedBase64Widths = [64, 76]

    /// Compiles `values`. A value equal to an earlier one is searched once and reported under
    /// the earlier source; an encoded form equal to one of another value keeps the first.
    ///
    /// - Parameter wrappedAt: line widths at which base64 output may be wrapped (`\n` every
    ///   that many characters, as `base64` and PEM write it): each base64 form is also searched
    ///   with a line break at every position it can fall, about `width` more patterns per form
    ///   and width. Meant for a few values (`exec --mask`), not a vault's thousand.
    public init(values: [(source: Source, value: SecretValue)], wrappedAt widths: [Int] = []) {
        var sources: [Source] = []
        var skipped: [Source] = []
        var patterns: [[UInt8]] = []
        var patternSource: [Int] = []
        var patternEncoding: [LeakEncoding] = []
        var patternEdges: [Base64Edges?] = []
        var seenValues: Set<[UInt8]> = []
        var seenForms: Set<[UInt8]> = []
        for (source, value) in values {
            let bytes = value.revealBytes()
            guard bytes.count >= MultiPatternMatcher.minimumLength else {
                if !bytes.isEmpty { skipped.append(source) }
                continue
            }
            guard seenValues.insert(bytes).inserted else { continue }
            sources.append(source)
            var forms = EncodedForm.forms(of: bytes)
            for form in forms where form.encoding == .base64 || form.encoding == .base64url {
                forms += Self.wrapped(form, widths: widths)
            }
            for form in forms where form.bytes.count >= MultiPatternMatcher.minimumLength {
                guard seenForms.insert(form.bytes).inserted else { continue }
                patterns.append(form.bytes)
                patternSource.append(sources.count - 1)
                patternEncoding.append(form.encoding)
                patternEdges.append(form.edges)
            }
        }
        self.sources = sources
        self.skipped = skipped
        self.matcher = MultiPatternMatcher(patterns: patterns)
        self.patternSource = patternSource
        self.patternEncoding = patternEncoding
        self.patternEdges = patternEdges
    }

    /// `form` with a `\n` after its first `first` characters and then every `width`, for every
    /// `first` from 1 to `width` that falls inside it: the form at any column of wrapped output.
    static func wrapped(_ form: EncodedForm, widths: [Int]) -> [EncodedForm] {
        var result: [EncodedForm] = []
        for width in widths where width > 0 {
            for first in 1...width where first < form.bytes.count {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(form.bytes.count + form.bytes.count / width + 2)
                var column = width - first
                for byte in form.bytes {
                    if column == width {
                        bytes.append(0x0A)
                        column = 0
                    }
                    bytes.append(byte)
                    column += 1
                }
                result.append(EncodedForm(encoding: form.encoding, bytes: bytes))
            }
        }
        return result
    }

    /// The hits in `buffer` whose start is at or after `startingAt`, in order of start offset,
    /// offsets shifted by `offset`. An occurrence that lies inside a longer occurrence of the
    /// same value (the value-only characters of a base64 form inside its padded form) is
    /// reported once, as the longer one.
    ///
    /// - Parameter exactEdges: check the characters around a base64 form's value-only
    ///   characters (``Base64Edges``), so a value differing from a secret only in the bits those
    ///   characters carry is not reported: whether `buffer` starts and ends the input (a scan);
    ///   `nil` not to check (masking, where more is better than less).
    public func hits(in buffer: UnsafeRawBufferPointer, startingAt: Int = 0, offset: Int = 0,
                     exactEdges input: (starts: Bool, ends: Bool)? = nil) -> [Hit] {
        var raw: [MultiPatternMatcher.Match] = []
        matcher.forEachMatch(in: buffer, startingAt: startingAt) { match in
            if let input, let edges = patternEdges[match.pattern] {
                let before = match.start > 0 ? buffer[match.start - 1] : nil
                let after = match.end < buffer.count ? buffer[match.end] : nil
                guard edges.agree(before: before, after: after, atInputStart: input.starts, atInputEnd: input.ends) else { return }
            }
            raw.append(match)
        }
        guard !raw.isEmpty else { return [] }
        // Sorted by start, the longer first at one start, a container comes before what it
        // contains: keep a match unless an earlier one of the same value reaches as far.
        raw.sort { ($0.start, $1.end) < ($1.start, $0.end) }
        var reach: [Int: Int] = [:]
        var kept: [MultiPatternMatcher.Match] = []
        for match in raw {
            let source = patternSource[match.pattern]
            if let end = reach[source], end >= match.end { continue }
            reach[source] = match.end
            kept.append(match)
        }
        return kept.map {
            Hit(source: sources[patternSource[$0.pattern]], encoding: patternEncoding[$0.pattern],
                start: $0.start + offset, end: $0.end + offset)
        }
    }

    /// The hits in `bytes` (see ``hits(in:startingAt:offset:)``).
    public func hits(in bytes: [UInt8]) -> [Hit] {
        bytes.withUnsafeBytes { hits(in: $0) }
    }
}
