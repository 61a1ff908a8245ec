#!/usr/bin/env python3
"""Every module a target imports must be declared among its dependencies in Package.swift.

Reads Package.swift's targets (name, path, dependencies), then every `import X` in each target's
Swift files, and reports imports that are neither declared nor part of the toolchain, and any
`import Foundation` in a module the shipped `weir` binary links (FoundationEssentials only: full
Foundation brings ICU's 30 MB of data; BENCHMARKS.md, "Footprint (issue 12)").
Exit status 1 when anything is undeclared.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOOLCHAIN = {"Foundation", "FoundationEssentials", "Glibc", "Musl", "Darwin", "Dispatch", "Synchronization",
             "Testing", "XCTest", "_Concurrency", "os"}
# Products whose modules differ from, or add to, the product's name.
PRODUCT_MODULES = {"Metrics": {"Metrics", "CoreMetrics"}}


def balanced(text, start, open_char, close_char):
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_char:
            depth += 1
        elif text[i] == close_char:
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
    raise ValueError("unbalanced Package.swift")


def targets(package):
    for match in re.finditer(r"\.(target|executableTarget|testTarget|systemLibrary)\(", package):
        body = balanced(package, match.end() - 1, "(", ")")
        name = re.search(r'name:\s*"([^"]+)"', body).group(1)
        path = re.search(r'path:\s*"([^"]+)"', body)
        deps = set()
        dep_match = re.search(r"dependencies:\s*\[", body)
        if dep_match:
            deps_text = balanced(body, dep_match.end() - 1, "[", "]")
            for product in re.finditer(r'\.product\(\s*name:\s*"([^"]+)"', deps_text):
                deps |= PRODUCT_MODULES.get(product.group(1), {product.group(1)})
            without_products = re.sub(r"\.product\([^)]*\)", "", deps_text)
            deps |= set(re.findall(r'"([^"]+)"', without_products))
        folder = path.group(1) if path else ("Tests/" if match.group(1) == "testTarget" else "Sources/") + name
        yield name, ROOT / folder, {d.replace("-", "_") for d in deps}


def main():
    package = (ROOT / "Package.swift").read_text()
    problems = []
    all_targets = list(targets(package))
    graph = {name: declared for name, _, declared in all_targets}
    shipped, pending = set(), ["weir"]
    while pending:
        target = pending.pop()
        if target in graph and target not in shipped:
            shipped.add(target)
            pending.extend(graph[target])
    for name, folder, declared in all_targets:
        for file in sorted(folder.rglob("*.swift")):
            in_string = False
            for number, line in enumerate(file.read_text().splitlines(), 1):
                # Inside a multi-line string literal (a script, a config), `import` is text.
                if line.count('"""') % 2 == 1:
                    in_string = not in_string
                    continue
                if in_string:
                    continue
                found = re.match(r"\s*(?:@testable\s+|@_exported\s+|@preconcurrency\s+)*import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?([A-Za-z_][A-Za-z0-9_]*)", line)
                if not found:
                    continue
                module = found.group(1)
                if module == "Foundation" and name in shipped:
                    problems.append(f"{file.relative_to(ROOT)}:{number}: '{name}' is linked into weir and imports Foundation "
                                    "(import FoundationEssentials: Foundation brings ICU into the binary)")
                    continue
                if module in TOOLCHAIN or module in declared:
                    continue
                problems.append(f"{file.relative_to(ROOT)}:{number}: '{name}' imports {module}, not declared in Package.swift")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
