#!/usr/bin/env python3
"""Lists every fn item in src/ longer than LIMIT lines (from its `fn` line through its closing
brace; comments and literals are skipped when matching braces). Usage: scripts/long-fns.py [src] [80]"""
import os, re, sys
LIMIT = int(sys.argv[2]) if len(sys.argv) > 2 else 80
root = sys.argv[1] if len(sys.argv) > 1 else "src"
FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?((const|async|unsafe|extern\s+"[^"]*")\s+)*fn\s+(\w+)')

def strip(line, state):
    """Remove comments, string and char literals; state carries block comment depth / raw string."""
    out = []; i = 0; n = len(line)
    while i < n:
        if state['block']:
            if line.startswith('*/', i): state['block'] -= 1; i += 2; continue
            if line.startswith('/*', i): state['block'] += 1; i += 2; continue
            i += 1; continue
        if state['str'] is not None:
            term = state['str']
            if term == '"':
                if line[i] == '\\': i += 2; continue
                if line[i] == '"': state['str'] = None
                i += 1; continue
            if line.startswith(term, i): state['str'] = None; i += len(term); continue
            i += 1; continue
        c = line[i]
        if line.startswith('//', i): break
        if line.startswith('/*', i): state['block'] = 1; i += 2; continue
        m = re.match(r'b?r(#*)"', line[i:])
        if m and (i == 0 or not (line[i-1].isalnum() or line[i-1] == '_')):
            state['str'] = '"' + m.group(1); i += m.end(); continue
        if c == '"': state['str'] = '"'; i += 1; continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", line[i:])
            if m: i += m.end(); continue
        out.append(c); i += 1
    return ''.join(out)

res = []
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f)
        lines = open(p, encoding='utf-8').read().split('\n')
        state = {'block': 0, 'str': None}
        clean = [strip(l, state) for l in lines]
        for i, l in enumerate(clean):
            m = FN.match(l)
            if not m: continue
            depth = 0; started = False
            for j in range(i, len(clean)):
                for ch in clean[j]:
                    if ch == '{': depth += 1; started = True
                    elif ch == '}': depth -= 1
                    elif ch == ';' and not started and depth == 0: break
                else:
                    if started and depth == 0: break
                    continue
                if not started: break  # declaration without body
                if depth == 0: break
            else:
                continue
            if not started: continue
            length = j - i + 1
            if length > LIMIT: res.append((length, p, i + 1, m.group(5)))
for length, p, ln, name in sorted(res, reverse=True):
    print(f"{length:4d}  {p}:{ln}  {name}")
