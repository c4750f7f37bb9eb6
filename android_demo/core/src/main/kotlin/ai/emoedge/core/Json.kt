package ai.emoedge.core

/**
 * A small JSON reader and writer (RFC 8259) so the core needs nothing but kotlin-stdlib.
 *
 * Objects parse to [LinkedHashMap] (key order kept), arrays to [List], numbers to [Long]
 * when they are integers that fit, else [Double]; strings, booleans and null as such.
 */
object Json {
    class ParseException(
        message: String,
    ) : IllegalArgumentException(message)

    fun parse(text: String): Any? {
        val reader = Reader(text)
        reader.skipSpace()
        val value = reader.value()
        reader.skipSpace()
        if (reader.pos != text.length) reader.fail("trailing characters")
        return value
    }

    fun write(
        value: Any?,
        indent: Int = 2,
    ): String = StringBuilder().also { writeTo(it, value, indent, 0) }.toString()

    private fun writeTo(
        out: StringBuilder,
        value: Any?,
        indent: Int,
        depth: Int,
    ) {
        val pad = if (indent > 0) "\n" + " ".repeat(indent * (depth + 1)) else ""
        val end = if (indent > 0) "\n" + " ".repeat(indent * depth) else ""
        when (value) {
            null -> {
                out.append("null")
            }

            is String -> {
                quote(out, value)
            }

            is Boolean -> {
                out.append(value)
            }

            is Float -> {
                number(out, value.toDouble())
            }

            is Double -> {
                number(out, value)
            }

            is Number -> {
                out.append(value.toLong())
            }

            is Map<*, *> -> {
                if (value.isEmpty()) {
                    out.append("{}")
                    return
                }
                out.append('{')
                value.entries.forEachIndexed { i, (k, v) ->
                    if (i > 0) out.append(',')
                    out.append(pad)
                    quote(out, k.toString())
                    out.append(if (indent > 0) ": " else ":")
                    writeTo(out, v, indent, depth + 1)
                }
                out.append(end).append('}')
            }

            is Iterable<*> -> {
                writeList(out, value.toList(), indent, depth, pad, end)
            }

            is FloatArray -> {
                writeList(out, value.toList(), indent, depth, pad, end)
            }

            is DoubleArray -> {
                writeList(out, value.toList(), indent, depth, pad, end)
            }

            is LongArray -> {
                writeList(out, value.toList(), indent, depth, pad, end)
            }

            is IntArray -> {
                writeList(out, value.toList(), indent, depth, pad, end)
            }

            else -> {
                quote(out, value.toString())
            }
        }
    }

    private fun writeList(
        out: StringBuilder,
        items: List<Any?>,
        indent: Int,
        depth: Int,
        pad: String,
        end: String,
    ) {
        val flat = items.none { it is Map<*, *> || it is Iterable<*> }
        out.append('[')
        items.forEachIndexed { i, v ->
            if (i > 0) out.append(if (flat) ", " else ",")
            if (!flat) out.append(pad)
            writeTo(out, v, indent, depth + 1)
        }
        if (!flat && items.isNotEmpty()) out.append(end)
        out.append(']')
    }

    private fun number(
        out: StringBuilder,
        value: Double,
    ) {
        when {
            value.isNaN() -> out.append("\"NaN\"")
            value.isInfinite() -> out.append(if (value > 0) "\"Infinity\"" else "\"-Infinity\"")
            else -> out.append(value.toString())
        }
    }

    private fun quote(
        out: StringBuilder,
        text: String,
    ) {
        out.append('"')
        for (c in text) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                '\b' -> out.append("\\b")
                '\u000C' -> out.append("\\f")
                else -> if (c < ' ') out.append("\\u%04x".format(c.code)) else out.append(c)
            }
        }
        out.append('"')
    }

    private class Reader(
        val text: String,
    ) {
        var pos = 0

        fun fail(what: String): Nothing = throw ParseException("invalid JSON at offset $pos: $what")

        fun skipSpace() {
            while (pos < text.length && text[pos] in " \t\r\n") pos++
        }

        fun value(): Any? {
            if (pos >= text.length) fail("unexpected end")
            return when (val c = text[pos]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c.isDigit()) number() else fail("unexpected '$c'")
            }
        }

        private fun literal(
            word: String,
            result: Any?,
        ): Any? {
            if (!text.startsWith(word, pos)) fail("expected $word")
            pos += word.length
            return result
        }

        private fun obj(): Map<String, Any?> {
            val map = LinkedHashMap<String, Any?>()
            pos++
            skipSpace()
            if (pos < text.length && text[pos] == '}') {
                pos++
                return map
            }
            while (true) {
                skipSpace()
                if (pos >= text.length || text[pos] != '"') fail("expected a key")
                val key = string()
                skipSpace()
                if (pos >= text.length || text[pos] != ':') fail("expected ':'")
                pos++
                skipSpace()
                map[key] = value()
                skipSpace()
                if (pos >= text.length) fail("unterminated object")
                when (text[pos++]) {
                    ',' -> continue
                    '}' -> return map
                    else -> fail("expected ',' or '}'")
                }
            }
        }

        private fun array(): List<Any?> {
            val list = ArrayList<Any?>()
            pos++
            skipSpace()
            if (pos < text.length && text[pos] == ']') {
                pos++
                return list
            }
            while (true) {
                skipSpace()
                list.add(value())
                skipSpace()
                if (pos >= text.length) fail("unterminated array")
                when (text[pos++]) {
                    ',' -> continue
                    ']' -> return list
                    else -> fail("expected ',' or ']'")
                }
            }
        }

        private fun string(): String {
            val out = StringBuilder()
            pos++
            while (true) {
                if (pos >= text.length) fail("unterminated string")
                val c = text[pos++]
                when {
                    c == '"' -> {
                        return out.toString()
                    }

                    c == '\\' -> {
                        if (pos >= text.length) fail("unterminated escape")
                        when (val e = text[pos++]) {
                            '"', '\\', '/' -> {
                                out.append(e)
                            }

                            'b' -> {
                                out.append('\b')
                            }

                            'f' -> {
                                out.append('\u000C')
                            }

                            'n' -> {
                                out.append('\n')
                            }

                            'r' -> {
                                out.append('\r')
                            }

                            't' -> {
                                out.append('\t')
                            }

                            'u' -> {
                                if (pos + 4 > text.length) fail("short \\u escape")
                                out.append(text.substring(pos, pos + 4).toInt(16).toChar())
                                pos += 4
                            }

                            else -> {
                                fail("bad escape \\$e")
                            }
                        }
                    }

                    c < ' ' -> {
                        fail("control character in string")
                    }

                    else -> {
                        out.append(c)
                    }
                }
            }
        }

        private fun number(): Any {
            val start = pos
            if (text[pos] == '-') pos++
            while (pos < text.length && (text[pos].isDigit() || text[pos] in ".eE+-")) pos++
            val token = text.substring(start, pos)
            val isInteger = token.none { it in ".eE" }
            return (if (isInteger) token.toLongOrNull() else null)
                ?: token.toDoubleOrNull()
                ?: fail("bad number '$token'")
        }
    }
}

/** Typed access to parsed JSON, with errors that name the missing or mistyped field. */
@Suppress("UNCHECKED_CAST")
internal fun Any?.obj(what: String): Map<String, Any?> = this as? Map<String, Any?> ?: throw ManifestException("$what: expected an object")

internal fun Any?.list(what: String): List<Any?> = this as? List<Any?> ?: throw ManifestException("$what: expected a list")

internal fun Any?.str(what: String): String = this as? String ?: throw ManifestException("$what: expected a string")

internal fun Any?.num(what: String): Double =
    when (this) {
        is Number -> toDouble()
        "NaN" -> Double.NaN
        "Infinity" -> Double.POSITIVE_INFINITY
        "-Infinity" -> Double.NEGATIVE_INFINITY
        else -> throw ManifestException("$what: expected a number")
    }

internal fun Any?.int(what: String): Int = num(what).toInt()
