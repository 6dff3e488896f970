/// The likely-typo rule of DESIGN.md ("Plugins"): a `type` within two edits of a built-in type
/// name that no plugin answers is reported as a probable misspelling of that name.
public enum TypoSuggestion {
    /// The name among `names` closest to `word` when it is at most `maximum` edits away
    /// (optimal string alignment: an insertion, deletion, substitution or swap of neighbours
    /// costs 1) and not `word` itself; ties go to the first in `names`.
    public static func closest(to word: String, among names: [String], maximum: Int = 2) -> String? {
        let typed = Array(word)
        var best: (name: String, distance: Int)?
        for name in names where name != word {
            let distance = distance(typed, Array(name))
            if distance <= maximum, distance < (best?.distance ?? .max) { best = (name, distance) }
        }
        return best?.name
    }

    /// The optimal-string-alignment (restricted Damerau–Levenshtein) distance of `a` and `b`.
    public static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
