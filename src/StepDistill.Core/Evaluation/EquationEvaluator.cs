using System.Globalization;

namespace StepDistill.Evaluation;

/// <summary>
/// Evaluates the arithmetic in SVAMP equations without executing code: a recursive-descent parser for
/// numbers, <c>+ - * /</c>, unary signs and parentheses. The official metric calls Python's <c>eval</c>
/// and counts anything that raises as wrong; this evaluator accepts the subset of Python arithmetic that
/// SVAMP labels use and rejects everything else, so a rejected string scores as wrong.
/// </summary>
/// <remarks>
/// Deliberate differences from Python <c>eval</c> (none of them occurs in a gold label):
/// <list type="bullet">
/// <item><c>and</c>/<c>or</c>, names, commas (tuples), <c>**</c>, <c>//</c>, <c>%</c>, <c>_</c> digit separators,
/// hex/complex literals are rejected. Python evaluates <c>(29/2) and (30/2)</c> to 15.0; here it is not a
/// number. Two PaLM labels in SVAMP train score right under Python only because of this (see docs/data.md).</item>
/// <item>Division by zero is not a number (Python raises, so it was wrong there too).</item>
/// <item>A non-finite result (overflow to infinity) is rejected.</item>
/// </list>
/// Accepted like Python: decimals (<c>10.0</c>, <c>.5</c>, <c>5.</c>), exponents (<c>1e3</c>), repeated unary
/// signs (<c>- -3</c>), any whitespace between tokens. Integer literals with a leading zero (<c>05</c>) are
/// rejected, as Python 3 rejects them. All arithmetic is in doubles; Python's exact integers agree with
/// doubles for every value below 2^53.
/// </remarks>
public static class EquationEvaluator
{
    /// <summary>Maximum nesting depth, so hostile input cannot exhaust the stack.</summary>
    const int MaxDepth = 200;

    /// <summary>Evaluates <paramref name="expression"/>; false (and NaN) when it is not a valid arithmetic expression.</summary>
    public static bool TryEvaluate(string? expression, out double value) => TryCanonicalize(expression, out _, out value);

    /// <summary>
    /// Evaluates <paramref name="expression"/> and writes it in SVAMP's canonical form: fully parenthesised, numbers as
    /// decimals, spaces around tokens (<c>(84/2)</c> → <c>( 84.0 / 2.0 )</c>). The teacher's answer parser uses it, so
    /// the teacher's gold agreement and the equation metric judge an answer alike.
    /// </summary>
    public static bool TryCanonicalize(string? expression, out string canonical, out double value)
    {
        (canonical, value) = ("", double.NaN);
        if (expression is null) return false;
        var parser = new Parser(expression);
        if (!parser.TryExpression(0, out var v, out var text)) return false;
        parser.SkipSpace();
        if (!parser.AtEnd || !double.IsFinite(v)) return false;
        (canonical, value) = (text, v);
        return true;
    }

    /// <summary>A number as SVAMP labels write it: <c>42.0</c>, <c>2.5</c>.</summary>
    public static string FormatNumber(double v) =>
        v == Math.Floor(v) && Math.Abs(v) < 1e15 ? v.ToString("F1", CultureInfo.InvariantCulture) : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The official SVAMP rule: both sides evaluate and their values are exactly equal as doubles.</summary>
    public static bool ValuesEqual(string? prediction, string? label) =>
        TryEvaluate(prediction, out var p) && TryEvaluate(label, out var g) && p == g;

    ref struct Parser(string text)
    {
        readonly ReadOnlySpan<char> _s = text.AsSpan();
        int _pos;

        public readonly bool AtEnd => _pos >= _s.Length;

        public void SkipSpace()
        {
            while (_pos < _s.Length && char.IsWhiteSpace(_s[_pos])) _pos++;
        }

        char Peek()
        {
            SkipSpace();
            return _pos < _s.Length ? _s[_pos] : '\0';
        }

        public bool TryExpression(int depth, out double value, out string text)
        {
            if (!TryTerm(depth, out value, out text)) return false;
            while (true)
            {
                var c = Peek();
                if (c != '+' && c != '-') return true;
                _pos++;
                if (!TryTerm(depth, out var rhs, out var rhsText)) return false;
                value = c == '+' ? value + rhs : value - rhs;
                text = $"( {text} {c} {rhsText} )";
            }
        }

        bool TryTerm(int depth, out double value, out string text)
        {
            if (!TryUnary(depth, out value, out text)) return false;
            while (true)
            {
                var c = Peek();
                if (c != '*' && c != '/') return true;
                _pos++;
                if (!TryUnary(depth, out var rhs, out var rhsText)) return false;
                text = $"( {text} {c} {rhsText} )";
                if (c == '*') value *= rhs;
                else
                {
                    if (rhs == 0) return false; // Python raises ZeroDivisionError: not a number
                    value /= rhs;
                }
            }
        }

        bool TryUnary(int depth, out double value, out string text)
        {
            (value, text) = (double.NaN, "");
            if (depth > MaxDepth) return false;
            var c = Peek();
            if (c == '-' || c == '+')
            {
                _pos++;
                if (!TryUnary(depth + 1, out var inner, out var innerText)) return false;
                value = c == '-' ? -inner : inner;
                // A signed number stays a number (-3.0); a signed group keeps its sign in front.
                text = c == '+' ? innerText : char.IsAsciiDigit(innerText[0]) || innerText[0] == '-' && innerText.Length > 1 && char.IsAsciiDigit(innerText[1])
                    ? FormatNumber(value) : "-" + innerText;
                return true;
            }
            if (c == '(')
            {
                _pos++;
                if (!TryExpression(depth + 1, out value, out text)) return false;
                if (Peek() != ')') return false;
                _pos++;
                return true;
            }
            if (!TryNumber(out value)) return false;
            text = FormatNumber(value);
            return true;
        }

        bool TryNumber(out double value)
        {
            value = double.NaN;
            int start = _pos, intDigits = 0, fracDigits = 0;
            while (_pos < _s.Length && char.IsAsciiDigit(_s[_pos])) { _pos++; intDigits++; }
            var hasPoint = _pos < _s.Length && _s[_pos] == '.';
            if (hasPoint)
            {
                _pos++;
                while (_pos < _s.Length && char.IsAsciiDigit(_s[_pos])) { _pos++; fracDigits++; }
            }
            if (intDigits + fracDigits == 0) return false;
            var hasExponent = false;
            if (_pos < _s.Length && (_s[_pos] == 'e' || _s[_pos] == 'E'))
            {
                var save = _pos;
                _pos++;
                if (_pos < _s.Length && (_s[_pos] == '+' || _s[_pos] == '-')) _pos++;
                var expDigits = 0;
                while (_pos < _s.Length && char.IsAsciiDigit(_s[_pos])) { _pos++; expDigits++; }
                if (expDigits == 0) { _pos = save; return false; }
                hasExponent = true;
            }
            // Python 3 rejects "05" (but accepts "0", "00", "05.0" and "05e1").
            if (!hasPoint && !hasExponent && intDigits > 1 && _s[start] == '0' && _s[start..(start + intDigits)].ContainsAnyExcept('0'))
                return false;
            // A letter, digit or '.' glued to the number (e.g. "7x", "1.2.3", "3j") is not Python arithmetic.
            if (_pos < _s.Length && (char.IsLetterOrDigit(_s[_pos]) || _s[_pos] == '.' || _s[_pos] == '_')) return false;
            return double.TryParse(_s[start.._pos], NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }
}
