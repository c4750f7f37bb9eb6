package ai.emoedge.core

import java.util.regex.Pattern

/**
 * The word tokenizer of sdk/tokenizer.py, reproduced exactly: typographic punctuation to ASCII,
 * lowercase, then the matches of `\w+(?:'\w+)*|\.\.\.|[^\w\s]` with Unicode `\w` and `\s`.
 * Vocabulary index = id: 0 `<pad>`, 1 `<unk>`, 2 `<sep>`, then the words.
 */
class WordTokenizer(
    val vocabulary: List<String>,
) {
    private val index: Map<String, Int> = vocabulary.withIndex().associate { (i, w) -> w to i }

    init {
        require(vocabulary.take(3) == SPECIALS) { "a vocabulary must start with $SPECIALS, got ${vocabulary.take(3)}" }
        require(index.size == vocabulary.size) { "the vocabulary has duplicate entries" }
    }

    fun tokenize(text: String): List<String> {
        val matcher = TOKEN_PATTERN.matcher(clean(text))
        val tokens = ArrayList<String>()
        while (matcher.find()) tokens.add(matcher.group())
        return tokens
    }

    fun ids(text: String): List<Long> = tokenize(text).map { (index[it] ?: UNK_ID).toLong() }

    /** (ids left-padded with 0 to maxLen, keeping the last maxLen; number of valid ids). */
    fun encode(
        text: String,
        maxLen: Int,
    ): Pair<LongArray, Int> = padLeft(ids(text), maxLen)

    /** Like [encode] for "c1 <sep> c2 <sep> ... <sep> text" (contexts oldest first). */
    fun encodeDialogue(
        context: List<String>,
        text: String,
        maxLen: Int,
    ): Pair<LongArray, Int> {
        val all = ArrayList<Long>()
        for (c in context) {
            all += ids(c)
            all += SEP_ID.toLong()
        }
        all += ids(text)
        return padLeft(all, maxLen)
    }

    companion object {
        val SPECIALS = listOf("<pad>", "<unk>", "<sep>")
        const val PAD_ID = 0
        const val UNK_ID = 1
        const val SEP_ID = 2

        private val TOKEN_PATTERN: Pattern = Pattern.compile("\\w+(?:'\\w+)*|\\.\\.\\.|[^\\w\\s]", Pattern.UNICODE_CHARACTER_CLASS)

        private val REPLACEMENTS =
            mapOf(
                '\u2019' to "'",
                '\u2018' to "'",
                '\u201b' to "'",
                '\u2032' to "'",
                '`' to "'",
                '\u201c' to "\"",
                '\u201d' to "\"",
                '\u201e' to "\"",
                '\u2014' to "-",
                '\u2013' to "-",
                '\u2012' to "-",
                '\u2010' to "-",
                '\u2026' to "...",
                '\u00a0' to " ",
            )

        fun clean(text: String): String {
            val out = StringBuilder(text.length)
            for (c in text) out.append(REPLACEMENTS[c] ?: c)
            return out.toString().lowercase()
        }

        fun padLeft(
            ids: List<Long>,
            maxLen: Int,
        ): Pair<LongArray, Int> {
            require(maxLen >= 1) { "maxLen must be >= 1, got $maxLen" }
            val kept = ids.takeLast(maxLen)
            val out = LongArray(maxLen)
            kept.forEachIndexed { i, id -> out[maxLen - kept.size + i] = id }
            return out to kept.size
        }
    }
}
