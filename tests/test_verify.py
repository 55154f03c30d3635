"""Table-driven equivalence tests for ``verify``: one table per answer type, hard negatives included."""

from __future__ import annotations

import pytest

from verifiers import Status, VerifyConfig, verify

EQ, NE = True, False


def check(gold: str, pred: str, expected: bool, config: VerifyConfig | None = None) -> None:
    verdict = verify(gold, pred, config)
    assert verdict.is_equal is expected, (gold, pred, verdict)
    assert verdict.status in (Status.EQUAL, Status.NOT_EQUAL), verdict


NUMBERS = [
    ("42", "42", EQ), ("42", "43", NE), ("-7", "-7", EQ), ("-7", "7", NE), ("0", "-0", EQ),
    ("\\frac{1}{2}", "0.5", EQ), ("\\frac12", "\\dfrac{1}{2}", EQ), ("\\frac{1}{2}", "2/4", EQ),
    ("\\frac{1}{3}", "0.333", NE), ("\\frac{1}{3}", "0.3333333333", EQ), ("-\\frac{3}{4}", "\\frac{-3}{4}", EQ),
    ("-\\frac{3}{4}", "\\frac{3}{4}", NE), ("2\\frac{1}{2}", "\\frac{5}{2}", EQ), ("2\\frac{1}{2}", "2.5", EQ),
    ("-1\\frac{1}{4}", "-1.25", EQ), ("0.\\overline{3}", "\\frac{1}{3}", EQ), ("0.1\\overline{6}", "1/6", EQ),
    ("1.5\\times10^{3}", "1500", EQ), ("1.5 \\cdot 10^3", "1.5e3", EQ), ("3\\times10^{-2}", "0.03", EQ),
    ("1,000", "1000", EQ), ("1,000,000", "10^6", EQ), ("1{,}000", "1000", EQ), ("12,345", "12345", EQ),
    ("1\\,000\\,000", "1000000", EQ),
    ("3.14", "3.140", EQ), ("3.14", "3.15", NE), (".5", "0.5", EQ), ("1/50!", "\\frac{1}{51!}", NE),
    ("\\frac{1}{50!}", "1/50!", EQ), ("120", "5!", EQ),
]

PERCENT = [
    ("10\\%", "10", EQ), ("10\\%", "0.1", EQ), ("10\\%", "10%", EQ), ("10", "10\\%", EQ),
    ("10\\%", "20\\%", NE), ("10\\%", "1", NE), ("12.5\\%", "\\frac{1}{8}", EQ),
]

RADICALS_AND_EXPRESSIONS = [
    ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}", EQ), ("2\\sqrt{2}", "\\sqrt{8}", EQ),
    ("\\sqrt{2}", "2^{1/2}", EQ), ("\\sqrt{2}", "\\sqrt{3}", NE), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt2}", EQ),
    ("3\\sqrt{5}", "-3\\sqrt{5}", NE), ("x^2+2x+1", "(x+1)^2", EQ),
    ("x^2-1", "(x-1)(x+1)", EQ),
    ("x^2-1", "(x-1)(x+2)", NE), ("\\frac{\\pi}{6}", "\\pi/6", EQ), ("2\\pi", "\\pi", NE),
    ("\\frac{x}{2}", "0.5x", EQ), ("a^2b", "ba^2", EQ), ("x^2", "y^2", NE), ("\\frac{1}{x}", "x^{-1}", EQ),
    ("\\frac{\\sqrt{2}}{2}", "0.7071067812", EQ), ("\\frac{\\sqrt{2}}{2}", "0.7071", NE),
    ("\\infty", "\\infty", EQ), ("-\\infty", "\\infty", NE), ("\\sqrt[3]{2}", "2^{1/3}", EQ),
    ("e^{2}", "e^2", EQ), ("e^{i\\pi}", "-1", EQ), ("2+3i", "3i+2", EQ), ("(1+i)^2", "2i", EQ), ("i", "-i", NE),
    ("\\log_2 8", "3", EQ), ("\\binom{5}{2}", "10", EQ),
]

EQUATIONS = [
    ("x=5", "5", EQ), ("5", "x=5", EQ), ("x=5", "x = 5", EQ), ("x=2", "y=2", NE), ("x=2", "x=3", NE),
    ("y=2x+1", "y=1+2x", EQ), ("y=2x+1", "2x-y+1=0", EQ), ("y=2x+1", "y=2x-1", NE),
    ("k=3", "3", EQ), ("2x+3=7", "x=2", EQ), ("2x+3=7", "x=3", NE), ("x = 1, 2", "1, 2", EQ),
    ("x=3", "x = 2+1 = 3", EQ), ("2.25", "\\frac{9}{4} = 2.25", EQ), ("7", "3+4=7", EQ), ("8", "3+4=7", NE),
    ("(2,3)", "a=2, b=3", EQ), ("f(x)=x^2", "x^2", EQ), ("x^2+y^2=25", "y^2+x^2=25", EQ),
    ("y=-\\frac{1}{2}x+3", "y=-0.5x+3", EQ),
]

PLUS_MINUS = [
    ("2\\pm\\sqrt{3}", "2+\\sqrt3, 2-\\sqrt3", EQ), ("2\\pm\\sqrt{3}", "2-\\sqrt{3},2+\\sqrt{3}", EQ),
    ("\\pm 2", "2, -2", EQ), ("\\pm 2", "2", NE), ("x = 1 \\pm \\sqrt{2}", "1 - \\sqrt{2}, 1 + \\sqrt{2}", EQ),
]

SETS_AND_TUPLES = [
    ("\\{1,2,3\\}", "3,2,1", EQ), ("\\{1,2,3\\}", "\\{3, 1, 2\\}", EQ), ("\\{1,2,3\\}", "1,2", NE),
    ("1,2,3", "1,2,3,4", NE), ("1, 2", "2, 1", EQ), ("(1,2)", "(2,1)", NE), ("(1,2)", "(1, 2)", EQ),
    ("(3,-1)", "3, -1", EQ), ("(3,-1)", "-1, 3", NE), ("(1,2,3)", "(1,2,3)", EQ), ("(1,2,3)", "(1,3,2)", NE),
    ("\\left(\\frac{1}{2}, 3\\right)", "(0.5, 3)", EQ), ("\\langle 1, 2\\rangle", "(1,2)", EQ),
    ("1,2", "12", NE), ("\\emptyset", "\\varnothing", EQ), ("\\emptyset", "\\{\\}", EQ),
    ("\\emptyset", "\\{1\\}", NE), ("\\emptyset", "\\text{no solution}", EQ), ("5", "\\{5\\}", EQ),
]

INTERVALS = [
    ("[1,2)", "[1,2)", EQ), ("[1,2)", "[1,2]", NE), ("[1,2)", "(1,2)", NE), ("(-\\infty, 3]", "x \\le 3", EQ),
    ("(-\\infty, 3]", "x < 3", NE), ("(2, \\infty)", "x>2", EQ), ("[-1, 4)", "-1 \\le x < 4", EQ),
    ("(-\\infty,1)\\cup(2,\\infty)", "x<1 \\text{ or } x>2", EQ),
    ("(-\\infty,1)\\cup(2,\\infty)", "(2,\\infty)\\cup(-\\infty,1)", EQ),
    ("(-\\infty,1)\\cup(2,\\infty)", "(-\\infty,1]\\cup(2,\\infty)", NE), ("x \\in [0, 1]", "[0,1]", EQ),
    ("\\left[ \\frac{1}{2}, 1 \\right)", "[0.5, 1)", EQ), ("(-\\infty, \\infty)", "(-\\infty,\\infty)", EQ),
    ("(-\\infty, \\infty)", "\\mathbb{R}", EQ),
]

MATRICES = [
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", EQ),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1,2)", EQ),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", NE),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", EQ),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}", NE),
    ("\\begin{pmatrix} \\frac12 \\\\ -1 \\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ -1 \\end{pmatrix}", EQ),
]

UNITS_TEXT_BASES = [
    ("30^\\circ", "30", EQ), ("30^{\\circ}", "30°", EQ), ("30", "45^\\circ", NE), ("5\\text{ cm}", "5", EQ),
    ("5", "5 \\text{ cm}^2", EQ), ("\\$18.90", "18.9", EQ), ("12 \\mbox{ inches}", "12", EQ), ("6", "6 dollars", EQ),
    ("\\text{Monday}", "Monday", EQ), ("\\text{Monday}", "\\text{Tuesday}", NE), ("\\text{(A)}", "A", EQ),
    ("\\text{(B)}", "(C)", NE), ("\\text{even}", "\\text{Even}", EQ), ("25_6", "25_8", NE), ("25_6", "25_{6}", EQ),
    ("1011_2", "1011", EQ), ("1011_2", "11", NE), ("A3_{16}", "a3_{16}", EQ),
]

WHOLE_SOLUTIONS = [
    ("\\frac{3}{4}", "We compute ... so the answer is $\\boxed{\\frac{3}{4}}$.", EQ),
    ("7", "First I got \\boxed{5}. Wait, that is wrong. The answer is \\boxed{7}.", EQ),
    ("72", "She sold 48/2 = 24 clips in May.\n#### 72", EQ),
    ("3", "Final Answer: The final answer is $3$. I hope it is correct.", EQ),
    ("3", "The answer is 4.", NE),
]

# Pairs that earlier versions accepted: an undefined value equals nothing (sympy reads both 1/0 and 2/0 as
# zoo, and 12:00 as the ratio 12/0), an equation is not its own right side unless its left side names a
# variable or both sides are values, and a written set is never a tuple.
NO_FALSE_ACCEPTS = [
    ("1/0", "2/0", NE), ("\\frac{1}{0}", "\\frac{3}{0}", NE), ("12:00", "1:00", NE), ("12:00", "12:00", EQ),
    ("1:2", "2:4", EQ), ("11a+c", "7 = 11a+c", NE), ("7", "7 = 11a+c", NE), ("5", "5 = x", NE),
    ("\\{1,2\\}", "(1,2)", NE), ("(1,2)", "\\{1,2\\}", NE), ("\\{1,2\\}", "\\{2,1\\}", EQ), ("(1,2)", "1, 2", EQ),
]

# Real model output the earlier versions missed (issue 15); each row is one of our own cases by kind.
LATEX_THOUSANDS = [
    ("10,\\!000", "10000", EQ), ("25000", "\\boxed{25,\\!000}", EQ), ("4{,}096", "4096", EQ),
    ("10,\\!000", "10001", NE), ("3,\\!5", "3.5", NE),
]

PROSE = [
    ("(4,0)", "The point is $(4,0)$.", EQ), ("\\frac35", "So the probability is $\\frac35$.", EQ),
    ("60", "so the speed is 60 mph", EQ), ("7", "We get 3, then 5, and finally 7", EQ),
    ("12", "Final Answer: The final answer is 12. I hope it is correct.", EQ), ("7", "the answer is: 7", EQ),
    ("60", "so the speed is 61 mph", NE), ("(4,0)", "The point is $(0,4)$.", NE),
    ("5", "First $x=2$, and then the total is $5$ apples.", EQ),
]

SEVERAL_BOXES = [
    ("2, 5", "\\boxed{2} \\quad\\text{and}\\quad \\boxed{5}", EQ), ("2, 5", "$\\boxed{2}$ and $\\boxed{5}$", EQ),
    ("\\boxed{x=2}, \\boxed{y=3}", "x=2, y=3", EQ), ("\\boxed{x=2}, \\boxed{y=3}", "x=2, y=4", NE),
    ("2, 5", "\\boxed{2} \\qquad \\boxed{6}", NE),
]

RELATIONS = [
    ("f^{-1}(x)=\\frac{x-3}{2}", "\\frac{x-3}{2}", EQ), ("f'(x) = 2x", "2x", EQ), ("x \\lt 3", "(-\\infty, 3)", EQ),
    ("x \\gt 3", "(3, \\infty)", EQ), ("x \\ge 3", "[3, \\infty)", EQ), ("x \\neq 3", "x \\ne 3", EQ),
    ("4", "x^2 = 4", NE),  # a squared variable is not a name: x^2 = 4 does not say 4
]

LISTS = [
    ("{1, 2}", "\\{1,2\\}", EQ), ("1; 2", "\\{2,1\\}", EQ), ("1 \\text{ or } 2", "2, 1", EQ),
    ("\\text{A, C}", "C, A", EQ), ("\\text{A, C}", "A, B", NE), ("{1, 2}", "(1,2)", NE),
]

SPELLINGS = [
    ("\\mathrm{e}^2", "e^2", EQ), ("\\\\frac{1}{2}", "0.5", EQ), ("\\dfrac{1}{2}", "\\tfrac12", EQ),
    ("4\\text{ cm}^2", "4", EQ), ("\\sqrt{1/k}", "\\frac{1}{\\sqrt{k}}", EQ), ("\\sqrt{x}", "-\\sqrt{x}", NE),
    ("x", "\\sqrt{x^2}", NE), ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", EQ),
]


# Answer forms from a held-out suite (converted from another checker's tests) that earlier versions missed; the
# rows are our own cases by kind, with positives both ways where that makes sense and near misses that must
# stay rejected.
ASCII_RELATIONS = [
    ("x \\ge 2", "x >= 2", EQ), ("x >= 2", "[2, \\infty)", EQ), ("[2, \\infty)", "x>=2", EQ),
    ("x <= 5", "(-\\infty, 5]", EQ), ("(-\\infty, 5]", "x<=5", EQ), ("x \\le 5", "x <= 5", EQ),
    ("x != 3", "x \\neq 3", EQ), ("x \\ne 3", "x != 3", EQ), ("-1 <= x < 4", "[-1, 4)", EQ),
    ("[-1, 4)", "-1 <= x < 4", EQ), ("[2, \\infty)", "So the solution is $\\boxed{x >= 2}$.", EQ),
    ("x >= 2", "x > 2", NE), ("x > 2", "x >= 2", NE), ("x <= 5", "(-\\infty, 5)", NE), ("[2, \\infty)", "x <= 2", NE),
    ("x != 3", "x \\neq 4", NE), ("x != 3", "x = 3", NE), ("x \\le 5", "x >= 5", NE), ("-1 <= x < 4", "(-1, 4)", NE),
]

SPECIAL_TOKENS = [
    ("5", "The answer is \\boxed{5}<|im_end|>", EQ), ("5", "5<|im_end|>", EQ), ("12", "#### 12<|endoftext|>", EQ),
    ("\\frac{1}{2}", "Final Answer: \\frac{1}{2}<|eot_id|>", EQ), ("7", "so the answer is 7</s>", EQ),
    ("(1,2)", "The point we want is $(1,2)$.<|end_of_text|>", EQ), ("3", "Answer: 3<｜end▁of▁sentence｜>", EQ),
    ("3", "The answer is 3.<end_of_turn>", EQ), ("2, 3", "\\boxed{2} and \\boxed{3}<|im_end|><|endoftext|>", EQ),
    ("5", "\\boxed{6}<|im_end|>", NE), ("5", "6<|eot_id|>", NE), ("3", "The answer is 4.<end_of_turn>", NE),
    ("12", "#### 13<|endoftext|>", NE), ("3", "The answer is 2<|reserved_special_token_3|>", NE),
]

ANSWER_WORD = [
    ("5", "Answer $5$", EQ), ("\\frac{1}{2}", "Answer \\(\\frac{1}{2}\\)", EQ), ("(1,2)", "Answer \\[(1,2)\\]", EQ),
    ("x+1", "Answer $$x+1$$", EQ), ("12", "We add them up.\nAnswer $12$", EQ), ("3", "**Answer** $3$", EQ),
    ("12", "We add the numbers and get the total.\n\nFinal answer \\(12\\)", EQ),
    ("\\sqrt{2}", "ANSWER \\( \\sqrt{2} \\)", EQ),
    ("4", "Answer\n\\[\n4\n\\]", EQ), ("Answer $5$", "5", EQ), ("Answer \\(\\frac{1}{2}\\)", "0.5", EQ),
    ("5", "Answer $6$", NE), ("\\frac{1}{2}", "Answer \\(\\frac{1}{3}\\)", NE),
    ("12", "We add them up.\nAnswer $13$", NE),
    ("4", "Answer\n\\[\n5\n\\]", NE), ("Answer $5$", "6", NE),
]

NAMED_ANSWERS = [
    ("(a, b) = (4, 1)", "(4, 1)", EQ), ("(4, 1)", "(a,b)=(4,1)", EQ), ("(x, y, z) = (1, -2, 3)", "(1,-2,3)", EQ),
    ("(a, b) = (4, 1)", "a = 4, b = 1", EQ), ("(a, b) = (4, 1)", "b = 1, a = 4", EQ), ("PQ = 7, RS = 2", "7, 2", EQ),
    ("7, 2", "PQ = 7, RS = 2", EQ), ("AB = 5", "5", EQ), ("5\\sqrt{2}", "\\overline{AB} = 5\\sqrt{2}", EQ),
    ("BC = 12", "12 \\text{ cm}", EQ), ("AE:EC = 3:5", "3:5", EQ),
    ("\\frac{AE}{EC} = \\frac{3}{5}", "\\frac{3}{5}", EQ),
    ("\\frac{3}{5}", "AE/EC = 3/5", EQ), ("m\\angle ABC = 40^\\circ", "40", EQ), ("x_1 = 2, x_2 = 3", "2, 3", EQ),
    ("(a, b) = (4, 1)", "(1, 4)", NE), ("(a, b) = (4, 1)", "\\{4, 1\\}", NE), ("(a,b) = (4,1)", "a=1, b=4", NE),
    ("(a, b) = (4, 1)", "1, 4", NE), ("PQ = 7, RS = 2", "7, 3", NE), ("PQ = 7", "RS = 7", NE), ("AB = 5", "6", NE),
    ("x + y = 5", "5", NE), ("AE:EC = 3:5", "5:3", NE), ("\\frac{AE}{EC} = \\frac{3}{5}", "\\frac{5}{3}", NE),
    ("ab = 6", "6", NE),
]

_M = "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"
MATRIX_FORMS = [
    ("\\left[\\begin{array}{cc} 1 & 2 \\\\ 3 & 4 \\end{array}\\right]", _M, EQ),
    (_M, "\\left[\\begin{array}{cc} 1 & 2 \\\\ 3 & 4 \\end{array}\\right]", EQ),
    ("\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}", "\\left[\\begin{array}{c} 1 \\\\ -2 \\end{array}\\right]", EQ),
    ("[\\begin{array}{rr} \\frac{1}{2} & 0 \\\\ 0 & 1 \\end{array}]",
     "\\begin{bmatrix} 0.5 & 0 \\\\ 0 & 1 \\end{bmatrix}", EQ),
    ("\\left[\\begin{matrix}1 & 2\\end{matrix}\\right]", "(1, 2)", EQ),
    ("\\begin{pmatrix}2&2\\\\3&5\\end{pmatrix}", _M + " + \\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}", EQ),
    ("\\begin{pmatrix}2\\\\4\\end{pmatrix}", "2\\begin{pmatrix}1\\\\2\\end{pmatrix}", EQ),
    ("\\begin{pmatrix}-2&1\\\\\\frac{3}{2}&-\\frac{1}{2}\\end{pmatrix}", _M + "^{-1}", EQ),
    ("\\frac{1}{2}\\begin{pmatrix}2&4\\\\6&8\\end{pmatrix}", _M, EQ),
    ("\\begin{pmatrix}2&1\\\\4&3\\end{pmatrix}", _M + "\\begin{pmatrix}0&1\\\\1&0\\end{pmatrix}", EQ),
    ("[\\begin{array}{cc} 1 & 2 \\\\ 3 & 4 \\end{array}]", "\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}", NE),
    ("\\begin{pmatrix}2&2\\\\3&5\\end{pmatrix}", _M + " + \\begin{pmatrix}1&0\\\\0&2\\end{pmatrix}", NE),
    ("\\begin{pmatrix}2\\\\4\\end{pmatrix}", "3\\begin{pmatrix}1\\\\2\\end{pmatrix}", NE), (_M, _M + "^{-1}", NE),
    (_M, _M + "^T", NE), (_M, "[\\begin{array}{cccc}1&2&3&4\\end{array}]", NE),
    (_M, "\\left|\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right|", NE),
]

OR_ALTERNATIVES = [
    ("3, 4", "\\boxed{3} or \\boxed{4}", EQ), ("-1, 3", "The solutions are $x=3$ or $x=-1$.", EQ),
    ("\\{-1, 3\\}", "x = 3 \\textrm{ or } x = -1", EQ), ("2 \\text{ or } -5", "-5, 2", EQ),
    ("1, 2", "$x = 1$ or $x = 2$", EQ), ("1 or 2", "\\{1, 2\\}", EQ), ("x = 3 \\text{ or } x = -1", "x=-1, x=3", EQ),
    ("-1, 3", "Therefore $x = -1$ or $x = 3$.", EQ), ("\\boxed{-1} \\text{ or } \\boxed{3}", "3, -1", EQ),
    ("3, -1", "The solutions are 3 or -1.", EQ), ("13", "Final Answer: I am not sure, maybe 12 or 13", NE),
    ("4", "so it is either 3 or 4 apples", NE),
    ("3 or 4", "3, 5", NE), ("3, 4", "\\boxed{3} or \\boxed{5}", NE), ("4", "\\boxed{3} or \\boxed{4}", NE),
    ("-1, 3", "The solutions are $x=3$ or $x=1$.", NE), ("3 \\text{ or } 4", "3", NE), ("3 or 4", "(3, 5)", NE),
]

LABELLED_BOXES = [
    ("(2, 3)", "$x = \\boxed{2}$ and $y = \\boxed{3}$", EQ),
    ("x = 2, y = 3", "x = \\boxed{2}, \\quad y = \\boxed{3}", EQ),
    ("\\boxed{x = 2, y = 3}", "$x=\\boxed{2}$\n$y=\\boxed{3}$", EQ),
    ("\\boxed{(2, 3)}", "\\boxed{x = 2}\n\\boxed{y = 3}", EQ),
    ("$a = \\boxed{4}$, $b = \\boxed{1}$", "\\boxed{(4, 1)}", EQ), ("5, 7", "AB = \\boxed{5}, BC = \\boxed{7}", EQ),
    ("(2, 3)", "\\begin{align} x &= \\boxed{2} \\\\ y &= \\boxed{3} \\end{align}", EQ),
    ("(2, 3)", "$x = \\boxed{2}$ and $y = \\boxed{4}$", NE),
    ("\\boxed{x = 2, y = 3}", "$x=\\boxed{3}$ and $y=\\boxed{2}$", NE),
    ("3", "$x = \\boxed{2}$ and $y = \\boxed{3}$", NE), ("\\boxed{(4, 1)}", "$a = \\boxed{4}$, $b = \\boxed{2}$", NE),
    ("\\boxed{x = 2, y = 3}", "\\boxed{x = 2}\n\\boxed{z = 3}", NE), ("(2, 3)", "\\boxed{x = 2}\n\\boxed{y = 4}", NE),
]

ABSOLUTE_VALUES = [
    ("|x| < 2", "(-2, 2)", EQ), ("(-2, 2)", "|x|<2", EQ), ("|x| > 3", "(-\\infty, -3) \\cup (3, \\infty)", EQ),
    ("(-\\infty,-3)\\cup(3,\\infty)", "|x| > 3", EQ), ("|x - 1| \\le 2", "[-1, 3]", EQ),
    ("|x+2| \\geq 1", "(-\\infty,-3]\\cup[-1,\\infty)", EQ), ("|2x - 1| < 3", "(-1, 2)", EQ),
    ("\\left|x-\\frac{1}{2}\\right| \\le \\frac{3}{2}", "[-1, 2]", EQ), ("|x| >= 3", "x <= -3 or x >= 3", EQ),
    ("|x|<2", "-2<x<2", EQ), ("|3 - x| < 1", "(2, 4)", EQ), ("2 > |x|", "(-2, 2)", EQ),
    ("|x| < 2", "(-2, 3)", NE), ("|x| < 2", "[-2, 2]", NE), ("|x| \\le 2", "(-2, 2)", NE), ("|x| > 3", "(-3, 3)", NE),
    ("|x| > 3", "(3, \\infty)", NE), ("|x-1| \\le 2", "[-3, 1]", NE), ("|x| > 3", "(-\\infty,-3]\\cup[3,\\infty)", NE),
    ("|2x-1| < 3", "(-2, 4)", NE), ("|x| < 2", "x < 2", NE),
]

PERCENT_IN_PROSE = [
    ("0.4", "so 40\\% of the class", EQ), ("0.25", "The answer is 25% of the whole.", EQ),
    ("25\\%", "About 25% of the students passed, so that is our estimate.", EQ),
    ("0.125", "Thus, the probability is 12.5% in total", EQ), ("30\\%", "The final answer is 30 percent.", EQ),
    ("\\frac{3}{4}", "So 75% of the marbles are red.", EQ), ("0.3", "The final answer is 30 percent.", EQ),
    ("0.25", "About 2.5% of the students passed, so that is our estimate.", NE),
    ("25\\%", "The answer is 30% of the total.", NE), ("0.4", "so 4\\% of the class", NE),
    ("\\frac{3}{4}", "So 70% of the marbles are red.", NE), ("30\\%", "The final answer is 3 percent.", NE),
]

FINAL_ANSWER_SENTENCE = [
    ("\\frac{1}{3}", "Final Answer: The probability that both are red is $\\frac{1}{3}$.", EQ),
    ("12", "Final Answer: There are 12 apples left in the basket.", EQ),
    ("(4, 0)", "Final Answer: The point of intersection is $(4, 0)$.", EQ),
    ("x = 5", "**Final Answer:** The value of $x$ is $5$.", EQ),
    ("25\\%", "Final Answer: About 25% of the class passed.", EQ),
    ("60", "Final Answer: The car travels at 60 miles per hour.", EQ),
    ("\\frac{1}{3}", "Final Answer: The probability that both are red is $\\frac{2}{3}$.", NE),
    ("12", "Final Answer: There are 13 apples left in the basket.", NE),
    ("(4, 0)", "Final Answer: The point of intersection is $(0, 4)$.", NE),
    ("60", "Final Answer: The car travels at 65 miles per hour.", NE),
]

# The documented rules these kinds must not loosen: a decimal comma is a list, a written set is not a tuple.
KEPT_RULES = [
    ("3.5", "The answer is 3,5.", NE), ("3.5", "Final Answer: The length is $3,5$ cm.", NE),
    ("5", "Final Answer: The length is $3,5$ cm.", NE), ("3", "so the length is $3,5$ cm", NE),
    ("(4, 1)", "\\{4, 1\\}", NE), ("\\{4, 1\\}", "(a, b) = (4, 1)", NE),
]

ANSWER_FORMS = (ASCII_RELATIONS + SPECIAL_TOKENS + ANSWER_WORD + NAMED_ANSWERS + MATRIX_FORMS + OR_ALTERNATIVES
                + LABELLED_BOXES + ABSOLUTE_VALUES + PERCENT_IN_PROSE + FINAL_ANSWER_SENTENCE + KEPT_RULES)


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    NUMBERS + PERCENT + RADICALS_AND_EXPRESSIONS + EQUATIONS + PLUS_MINUS + SETS_AND_TUPLES + INTERVALS
    + MATRICES + UNITS_TEXT_BASES + WHOLE_SOLUTIONS + NO_FALSE_ACCEPTS + LATEX_THOUSANDS + PROSE + SEVERAL_BOXES
    + RELATIONS + LISTS + SPELLINGS,
)
def test_equivalence(gold: str, pred: str, expected: bool) -> None:
    check(gold, pred, expected)


@pytest.mark.parametrize(("gold", "pred", "expected"), ANSWER_FORMS)
def test_answer_forms(gold: str, pred: str, expected: bool) -> None:
    check(gold, pred, expected)


@pytest.mark.parametrize(("mode", "pred", "expected"), [
    ("number", "10", EQ), ("number", "0.1", NE), ("fraction", "0.1", EQ), ("fraction", "10", NE),
])
def test_percent_mode(mode: str, pred: str, expected: bool) -> None:
    check("10\\%", pred, expected, VerifyConfig(percent=mode))  # type: ignore[arg-type]


@pytest.mark.parametrize(("gold", "pred", "expected"), [
    ("1, 2", "2, 1", NE), ("1, 2", "1, 2", EQ), ("\\{1,2\\}", "2, 1", EQ), ("(1, 2)", "1, 2", EQ), ("5", "\\{5\\}", EQ),
])
def test_comma_lists_as_tuples(gold: str, pred: str, expected: bool) -> None:
    check(gold, pred, expected, VerifyConfig(comma_list="tuple"))


@pytest.mark.parametrize(("gold", "pred", "strict", "default"), [
    ("5\\text{ cm}", "5\\text{ m}", NE, EQ), ("5\\text{ cm}", "5 cm", EQ, EQ), ("5\\text{ cm}", "5", NE, EQ),
    ("5", "5", EQ, EQ), ("4\\text{ cm}^2", "4 \\text{cm}^2", EQ, EQ), ("4\\text{ cm}^2", "4\\text{ cm}", NE, EQ),
])
def test_strict_units(gold: str, pred: str, strict: bool, default: bool) -> None:
    check(gold, pred, strict, VerifyConfig(strict_units=True))
    check(gold, pred, default)


def test_prose_fallback_can_be_turned_off() -> None:
    assert verify("60", "so the speed is 60 mph").is_equal
    strict = verify("60", "so the speed is 60 mph", VerifyConfig(prose_fallback=False))
    assert strict.status is Status.NOT_EQUAL and strict.pred == "so the speed is 60 mph"


def test_relative_tolerance_is_configurable() -> None:
    check("\\frac{1}{3}", "0.333", EQ, VerifyConfig(rel_tol=1e-2))


@pytest.mark.parametrize(("gold", "pred", "side"), [
    ("", "5", "gold"), ("5", "", "pred"), ("5", "a long solution with no final answer " * 20, "pred"),
    ("(1,2", "(1,2)", "gold"), ("5", "\\boxed{(1,2}", "pred"),
])
def test_unparsable_names_the_side(gold: str, pred: str, side: str) -> None:
    verdict = verify(gold, pred)
    assert verdict.status is Status.UNPARSABLE
    assert verdict.unparsable_side == side, verdict


def test_verdict_explains_itself() -> None:
    verdict = verify("\\frac{1}{2}", "the answer is \\boxed{0.5}")
    assert verdict.pred == "0.5" and verdict.gold_parsed == "1/2" and verdict.pred_parsed == "1/2"
    assert "equal" in verdict.reason and verdict.to_dict()["status"] == "equal"
