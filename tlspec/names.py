"""What may name a kernel, buffer, dim, block index, loop variable or barrier of a spec.

One rule, shared by validation, `tlspec new` and the package writer: a name is a C identifier
(the schema checks the spelling), not a reserved word of C, CUDA, Python or the expression
language, and usable as a Python name. Kernels become modules and functions of the compiled
package, global buffers the arguments of its wrappers, and the package's own files and names
start with '_' (_runtime.py, __init__.py, _KERNEL), as do the compiler's own buffers
(compiler/analysis.py): so no spec name starts with '_'.
"""
from __future__ import annotations

import keyword
import unicodedata

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static struct
switch typedef union unsigned void volatile while bool true false nullptr class template
namespace new delete this using""".split())
# Names that would clash with the expression language, the CUDA built-ins or the wrapper.
RESERVED = C_KEYWORDS | frozenset(keyword.kwlist) | frozenset(
    {"ceildiv", "min", "max", "stream", "threadIdx", "blockIdx", "blockDim", "gridDim",
     "register_torch_ops"})      # a compiled package's own function

PYTHON_NAME = "an identifier, not a keyword, not starting with '_'"
# characters a terminal shows as nothing or as part of their neighbour: controls, format
# characters (zero-width space, joiners), combining marks, spaces other than ' '
_UNSEEN = ("Cc", "Cf", "Co", "Cn", "Mn", "Me", "Zs", "Zl", "Zp")


def visible(text: str) -> str:
    """`text` as a message quotes it, each character one could not see written as <U+XXXX>."""
    return "".join(f"<U+{ord(c):04X}>" if c != " " and unicodedata.category(c) in _UNSEEN
                   else c for c in text)


def python_name_problem(name: object) -> str | None:
    """Why `name` cannot be a name of the generated package (a module, a function, an argument
    or the package itself), or None when it can."""
    if not isinstance(name, str) or not name.isidentifier():
        return "it is not an identifier"
    if keyword.iskeyword(name):
        return "it is a Python keyword"
    if name.startswith("_"):
        return ("names starting with '_' belong to the compiled package (its _runtime module, "
                "__init__ and private names)")
    return None


def name_problem(name: str) -> str | None:
    """Why a spec may not use `name` (spelt as an identifier), or None when it may."""
    if name in RESERVED:
        return "it is a reserved word"
    return python_name_problem(name)
