#!/usr/bin/env python3
"""Checks scripts/hot-text.py's symbol patterns against symbols taken from two real builds of the
same code: the profile's `strip` setting alone changed every crate's disambiguator, the
instantiating crate LTO kept for a generic function, and back-reference offsets. A pattern must
match its own symbol and the same function in the other build, and not a different function.

    python3 tests/scripts/hot_text.py
"""
import fnmatch
import importlib.util
import os
import re
import sys
import unittest

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("hot_text", os.path.join(ROOT, "scripts", "hot-text.py"))
hot_text = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hot_text)

# (symbol in the build the list was read from, the same function in another build)
SAME_FUNCTION = [
    # Result<(), io::Error>::ok, instantiated by async_io in one build and async_process in the other.
    ("_RNvMNtCs81n8xS3CHfi_4core6resultINtB2_6ResultuNtNtNtB4_2io5error5ErrorE2okCs9JWqrQWVOTc_8async_io",
     "_RNvMNtCsc1wsBXsId9z_4core6resultINtB2_6ResultuNtNtNtB4_2io5error5ErrorE2okCs1cLlabL8Rk5_13async_process"),
    # Result<Metadata, io::Error>::ok: every crate hash differs.
    ("_RNvMNtCs81n8xS3CHfi_4core6resultINtB2_6ResultNtNtCsdSqfluZXvLJ_3std2fs8MetadataNtNtNtB4_2io5error5ErrorE2okCsfyThqJyIjVC_8openclaw",
     "_RNvMNtCsc1wsBXsId9z_4core6resultINtB2_6ResultNtNtCs4pcClFb2qI_3std2fs8MetadataNtNtNtB4_2io5error5ErrorE2okCs4C2NjHJ53rA_8openclaw"),
    # drop_glue::<Option<Vec<String>>>, with a back reference (B12_) whose offset moves with a hash's length.
    ("_RINvNtCs81n8xS3CHfi_4core3ptr9drop_glueINtNtB4_6option6OptionINtNtCs2gqWQ2q2YUa_5alloc3vec3VecNtNtB12_6string6StringEEECsfyThqJyIjVC_8openclaw",
     "_RINvNtCsc1wsBXsId9z_4core3ptr9drop_glueINtNtB4_6option6OptionINtNtCsaHcIHOBtVYC5_5alloc3vec3VecNtNtB13_6string6StringEEECs4C2NjHJ53rA_8openclaw"),
    # The gateway's own logger: only the crate hashes differ.
    ("_RNvXs_NtCsfyThqJyIjVC_8openclaw7loggingNtB4_6LoggerNtCshetynxXHyEu_3log3Log3log",
     "_RNvXs_NtCs4C2NjHJ53rA_8openclaw7loggingNtB4_6LoggerNtCsQ1Jk2mLhe9_3log3Log3log"),
    # A local function LTO renamed.
    ("_RNvMNtCs81n8xS3CHfi_4core3stre20eq_ignore_ascii_case.316",
     "_RNvMNtCsc1wsBXsId9z_4core3stre20eq_ignore_ascii_case.402"),
    ("_RNvNtCsfyThqJyIjVC_8openclaw3sys17listeners_on_port.llvm.1234567890",
     "_RNvNtCs4C2NjHJ53rA_8openclaw3sys17listeners_on_port.llvm.987"),
    # Legacy mangling: the hash at the end.
    ("_ZN4core3fmt5write17h0123456789abcdefE", "_ZN4core3fmt5write17hfedcba9876543210E"),
    # C functions keep their names.
    ("__libc_start_main", "__libc_start_main"),
    ("compiler_rt.memcpy.memcpyFast", "compiler_rt.memcpy.memcpyFast"),
]

# (symbol the list was read from, a different function that its pattern must not take along)
OTHER_FUNCTION = [
    ("_RNvMNtCs81n8xS3CHfi_4core6resultINtB2_6ResultNtNtCsdSqfluZXvLJ_3std2fs8MetadataNtNtNtB4_2io5error5ErrorE2okCsfyThqJyIjVC_8openclaw",
     "_RNvMNtCsc1wsBXsId9z_4core6resultINtB2_6ResultNtNtCs4pcClFb2qI_3std4path7PathBufNtNtNtB4_2io5error5ErrorE2okCs4C2NjHJ53rA_8openclaw"),
    ("_RNvXs_NtCsfyThqJyIjVC_8openclaw7loggingNtB4_6LoggerNtCshetynxXHyEu_3log3Log3log",
     "_RNvXs_NtCsfyThqJyIjVC_8openclaw7loggingNtB4_6LoggerNtCshetynxXHyEu_3log3Log7enabled"),
    ("_RNvNtCsfyThqJyIjVC_8openclaw3sys17listeners_on_port",
     "_RNvNtCsfyThqJyIjVC_8openclaw3sys17listeners_on_host"),
    ("memcpy", "memcpy_s"),
]


def matches(pattern, symbol):
    return fnmatch.fnmatchcase(symbol, pattern)


class SectionPattern(unittest.TestCase):
    def test_a_pattern_matches_its_own_symbol_and_the_same_function_in_another_build(self):
        for ours, theirs in SAME_FUNCTION:
            pattern = hot_text.section_pattern(ours)
            self.assertIsNotNone(pattern, ours)
            self.assertTrue(matches(pattern, ours), f"{pattern} does not match its own symbol {ours}")
            self.assertTrue(matches(pattern, theirs), f"{pattern} does not match {theirs}")

    def test_a_pattern_leaves_other_functions_alone(self):
        for ours, other in OTHER_FUNCTION:
            pattern = hot_text.section_pattern(ours)
            self.assertFalse(matches(pattern, other), f"{pattern} also matches {other}")

    def test_valgrinds_placeholders_give_no_pattern(self):
        for name in ("0x0000000001043000", "(below main)", ""):
            self.assertIsNone(hot_text.section_pattern(name), name)


class LinkerScript(unittest.TestCase):
    def sections(self):
        """The committed list as {section: (where it goes, its entries)}."""
        with open(os.path.join(ROOT, "scripts", "hot-text.ld")) as f:
            text = f.read()
        blocks = re.findall(r"SECTIONS \{\n  (\.text\.\w+) : \{\n(.*?)\n  \}\n\}\nINSERT (\w+ \.text);", text, re.S)
        out = {}
        for name, body, where in blocks:
            entries = [line.strip() for line in body.splitlines() if line.strip().startswith("*(")]
            out[name] = (where, entries)
        return out

    def test_the_idle_functions_go_before_the_code_and_the_conversations_after_it(self):
        sections = self.sections()
        self.assertEqual(sorted(sections), [".text.hot", ".text.warm"])
        self.assertEqual(sections[".text.hot"][0], "BEFORE .text")
        self.assertEqual(sections[".text.warm"][0], "AFTER .text")
        # About 1,400 functions run before the gateway is idle and some 1,200 more in a
        # conversation; a list of a few dozen means the workload or the symbol reading broke.
        self.assertGreater(len(sections[".text.hot"][1]), 1000)
        self.assertGreater(len(sections[".text.warm"][1]), 300)
        for _, entries in sections.values():
            for line in entries:
                self.assertRegex(line, r"^\*\(\.text\.[^ ()]+ \.text\.unlikely\.[^ ()]+\)$")
        overlap = set(sections[".text.hot"][1]) & set(sections[".text.warm"][1])
        self.assertEqual(overlap, set(), "a function is in both lists")


if __name__ == "__main__":
    unittest.main(verbosity=2)
