/* Unit tests of the universe manifest: every kind of error with its exact message and position. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/manifest.h"
#include "check_main.h"
#include "core/banned.h"

struct bad_case {
	const char *name;
	const char *text;
	const char *want;
};

static const struct bad_case bad_cases[] = {
	{ "syntax",
	  "{\"universe\": \"u\",\n"
	  " \"targets\": {\"unix\": {\"runner\": \"sandbox\"}},,\n"
	  " \"packages\": []}",
	  "m.json:2:45: invalid JSON: string or '}' expected near ','" },
	{ "top_array",
	  "[1, 2]",
	  "m.json:1:1: expected a JSON object at the top level, got an array" },
	{ "empty",
	  "   ",
	  "m.json:1:1: the file is empty; expected a JSON object describing a universe" },
	{ "unknown_top",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}},\n"
	  " \"packges\": []}",
	  "m.json:2:2: unknown key \"packges\" in the top level; did you mean \"packages\"?" },
	{ "missing_universe",
	  "{\"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": []}",
	  "m.json:1:1: the top level is missing required field \"universe\"" },
	{ "universe_type",
	  "{\"universe\": 7, \"targets\": {}, \"packages\": []}",
	  "m.json:1:14: \"universe\" of the top level must be a string, got an integer" },
	{ "bad_universe_name",
	  "{\"universe\": \"My Universe\", \"targets\": {}, \"packages\": []}",
	  "m.json:1:14: invalid universe name \"My Universe\"; expected lowercase letters, digits, '.', '_' or '-', starting with a letter or digit" },
	{ "no_targets",
	  "{\"universe\": \"u\", \"targets\": {}, \"packages\": []}",
	  "m.json:1:30: \"targets\" declares no target; expected at least one, such as {\"unix\": {\"runner\": \"sandbox\"}}" },
	{ "bad_runner",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbx\"}}, \"packages\": []}",
	  "m.json:1:50: target \"unix\" has unknown runner \"sandbx\"; expected process, sandbox, vm or xen (did you mean \"sandbox\"?)" },
	{ "target_not_object",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": \"sandbox\"}, \"packages\": []}",
	  "m.json:1:39: target \"unix\" must be an object with a \"runner\", got a string" },
	{ "bad_target_name",
	  "{\"universe\": \"u\", \"targets\": {\"Unix\": {\"runner\": \"sandbox\"}}, \"packages\": []}",
	  "m.json:1:31: invalid target name \"Unix\"; expected lowercase letters, digits, '.', '_' or '-', starting with a letter or digit" },
	{ "empty_packages",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": []}",
	  "m.json:1:75: \"packages\" is empty; expected at least one package" },
	{ "package_not_object",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\"a\"]}",
	  "m.json:1:76: package 1 must be an object, got a string" },
	{ "unknown_pkg_key",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"dependz\": []}]}",
	  "m.json:2:47: unknown key \"dependz\" in package 1; did you mean \"depends\"?" },
	{ "unknown_pkg_key_far",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"colour\": \"red\"}]}",
	  "m.json:2:47: unknown key \"colour\" in package 1; expected one of: name, repo, branch, depends, targets, build, test, timeout, output_timeout, env, version, coverage, api, fuzz, guest, notify, fuzz_engine" },
	{ "missing_build",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\"}]}",
	  "m.json:2:3: package \"a\" is missing required field \"build\"" },
	{ "missing_name",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"repo\": \"r\", \"build\": \"make\"}]}",
	  "m.json:2:3: package 1 is missing required field \"name\"" },
	{ "wrong_type_depends",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"depends\": \"b\"}]}",
	  "m.json:2:58: \"depends\" of package \"a\" must be an array, got a string" },
	{ "wrong_type_coverage",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"coverage\": \"yes\"}]}",
	  "m.json:2:59: \"coverage\" of package \"a\" must be a boolean, got a string" },
	{ "duplicate_package",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\"},\n"
	  "  {\"name\": \"a\", \"repo\": \"r2\", \"build\": \"make\"}]}",
	  "m.json:3:12: duplicate package \"a\"; first defined at line 2" },
	{ "duplicate_key",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"build\": \"x\"}]}",
	  "m.json:2:47: invalid JSON: duplicate object key near '\"build\"'" },
	{ "unknown_dep",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"cstruct\", \"repo\": \"r\", \"build\": \"make\"},\n"
	  "  {\"name\": \"b\", \"repo\": \"r\", \"build\": \"make\", \"depends\": [\"cstrct\"]}]}",
	  "m.json:3:59: package \"b\" depends on unknown package \"cstrct\"; did you mean \"cstruct\"?" },
	{ "self_dep",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"depends\": [\"a\"]}]}",
	  "m.json:2:59: package \"a\" depends on itself" },
	{ "dup_dep",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\"},\n"
	  "  {\"name\": \"b\", \"repo\": \"r\", \"build\": \"make\", \"depends\": [\"a\", \"a\"]}]}",
	  "m.json:3:64: package \"b\" lists dependency \"a\" twice" },
	{ "cycle",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"c\", \"repo\": \"r\", \"build\": \"make\", \"depends\": [\"a\"]},\n"
	  "  {\"name\": \"b\", \"repo\": \"r\", \"build\": \"make\", \"depends\": [\"c\"]},\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"depends\": [\"b\"]}]}",
	  "m.json:4:59: dependency cycle: a -> b -> c -> a" },
	{ "undeclared_target",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"unix\", \"xen\"]}]}",
	  "m.json:2:67: package \"a\" uses undeclared target \"xen\"; declared targets: unix, vm" },
	{ "dep_target",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"unix\"]},\n"
	  "  {\"name\": \"b\", \"repo\": \"r\", \"build\": \"make\", \"depends\": [\"a\"], \"guest\": {\"test\": \"t\", \"payload\": [\"t\"]}}]}",
	  "m.json:3:59: package \"b\" is built on target \"vm\" but its dependency \"a\" does not support that target; add it to the targets of \"a\"" },
	{ "dup_target",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"unix\", \"unix\"]}]}",
	  "m.json:2:67: package \"a\" lists target \"unix\" twice" },
	{ "empty_build",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"  \"}]}",
	  "m.json:2:39: \"build\" of package \"a\" is empty; expected a shell command" },
	{ "empty_test",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"test\": \"\"}]}",
	  "m.json:2:55: \"test\" of package \"a\" is empty; expected a shell command (or no \"test\" key)" },
	{ "timeout_zero",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"timeout\": 0}]}",
	  "m.json:2:58: \"timeout\" of package \"a\" must be between 1 and 86400 seconds, got 0" },
	{ "output_timeout_zero",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"output_timeout\": 0}]}",
	  "m.json:2:65: \"output_timeout\" of package \"a\" must be between 1 and 86400 seconds, got 0" },
	{ "timeout_real",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"timeout\": 1.5}]}",
	  "m.json:2:58: \"timeout\" of package \"a\" must be an integer, got a number with a fraction" },
	{ "timeout_huge",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"timeout\": 99999999999}]}",
	  "m.json:2:58: \"timeout\" of package \"a\" must be between 1 and 86400 seconds, got 99999999999" },
	{ "bad_pkg_name",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"Net Stack\", \"repo\": \"r\", \"build\": \"make\"}]}",
	  "m.json:2:12: invalid package name \"Net Stack\"; expected at most 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit" },
	{ "bad_branch",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"branch\": \"feature..x\", \"build\": \"make\"}]}",
	  "m.json:2:40: invalid branch name \"feature..x\" in package \"a\"; expected a git branch name" },
	{ "bad_version",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"version\": \"v1\"}]}",
	  "m.json:2:58: invalid version \"v1\" in package \"a\"; expected MAJOR.MINOR.PATCH, such as 1.2.0" },
	{ "env_bad_name",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"env\": {\"1X\": \"y\"}}]}",
	  "m.json:2:55: env of package \"a\": \"1X\" is not a valid variable name; expected letters, digits and '_', not starting with a digit" },
	{ "env_reserved",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"env\": {\"RIPPLE_PREFIX\": \"/x\"}}]}",
	  "m.json:2:55: env of package \"a\": \"RIPPLE_PREFIX\" is reserved; names starting with RIPPLE_ are set by ripple itself" },
	{ "env_value",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"env\": {\"X\": 1}}]}",
	  "m.json:2:60: env \"X\" of package \"a\" must be a string, got an integer" },
	{ "api_missing_library",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"api\": {\"headers\": \"include\"}}]}",
	  "m.json:2:54: the api block of package \"a\" is missing required field \"library\"" },
	{ "api_unknown_key",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"api\": {\"library\": \"lib/liba.so\", \"header\": \"include\"}}]}",
	  "m.json:2:81: unknown key \"header\" in the api block of package \"a\"; did you mean \"headers\"?" },
	{ "fuzz_seconds",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"fuzz\": [{\"name\": \"p\", \"binary\": \"f\", \"seconds\": -1}]}]}",
	  "m.json:2:96: \"seconds\" of fuzz entry 1 of package \"a\" must be between 1 and 86400 seconds, got -1" },
	{ "fuzz_corpus_up",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"fuzz\": [{\"name\": \"p\", \"binary\": \"f\", \"corpus\": \"../seeds\"}]}]}",
	  "m.json:2:95: \"corpus\" of fuzz entry 1 of package \"a\" has a \"..\" component (\"../seeds\"); expected a directory inside the source tree, without \".\" or \"..\"" },
	{ "fuzz_corpus_type",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"fuzz\": [{\"name\": \"p\", \"binary\": \"f\", \"corpus\": 3}]}]}",
	  "m.json:2:95: \"corpus\" of fuzz entry 1 of package \"a\" must be a string, got an integer" },
	{ "fuzz_dup",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"fuzz\": [{\"name\": \"p\", \"binary\": \"f\"}, {\"name\": \"p\", \"binary\": \"g\"}]}]}",
	  "m.json:2:95: duplicate fuzz target \"p\" in package \"a\"" },
	{ "fuzz_engine_unknown",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"fuzz_engine\": \"honggfuzz\"}]}",
	  "m.json:2:62: \"fuzz_engine\" of package \"a\" must be \"libfuzzer\" or \"afl\", got \"honggfuzz\"" },
	{ "fuzz_engine_afl_in_guest",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"fuzz_engine\": \"afl\",\n"
	  "   \"fuzz\": [{\"name\": \"p\", \"binary\": \"f\"}]}]}",
	  "m.json:2:81: \"fuzz_engine\": \"afl\" of package \"a\" needs a process or sandbox target: AFL++ does not fuzz in a guest" },
	{ "notify_not_object",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": \"https://x.org/h\"}]}",
	  "m.json:2:57: \"notify\" of package \"a\" must be an object, got a string" },
	{ "notify_unknown_key",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhok\": \"https://x.org/h\"}}]}",
	  "m.json:2:58: unknown key \"webhok\" in the notify block of package \"a\"; did you mean \"webhook\"?" },
	{ "notify_unknown_key_far",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"https://x.org/h\", \"email\": \"a@b\"}}]}",
	  "m.json:2:88: unknown key \"email\" in the notify block of package \"a\"; expected one of: webhook" },
	{ "notify_missing_webhook",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {}}]}",
	  "m.json:2:57: the notify block of package \"a\" is missing required field \"webhook\"" },
	{ "webhook_type",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": 7}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" must be a string, got an integer" },
	{ "webhook_empty",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"\"}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" is empty; expected an http:// or https:// URL" },
	{ "webhook_scheme",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"ftp://x.org/h\"}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" must start with http:// or https://, got \"ftp://x.org/h\"" },
	{ "webhook_scheme_long",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"hooks.example.org/ripple/0123456789abcdefghijklmnop\"}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" must start with http:// or https://, got \"hooks.example.org/ripple/0123456789abcde...\"" },
	{ "webhook_no_host",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"https:///h\"}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" names no host in \"https:///h\"; expected a URL such as https://hooks.example.org/ripple" },
	{ "webhook_space",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"https://x.org/a b\"}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" has a space at byte 16; expected a URL without whitespace or control characters" },
	{ "webhook_newline",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"https://x.org/h\\n\"}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" has whitespace at byte 16; expected a URL without whitespace or control characters" },
	{ "webhook_control",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"https://x.org/\\u0007\"}}]}",
	  "m.json:2:69: \"webhook\" of the notify block of package \"a\" has a control character at byte 15; expected a URL without whitespace or control characters" },
	{ "guest_not_object",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": \"make check\"}]}",
	  "m.json:2:75: \"guest\" of package \"a\" must be an object, got a string" },
	{ "guest_missing_test",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"payload\": [\"t\"]}}]}",
	  "m.json:2:75: the guest block of package \"a\" is missing required field \"test\"" },
	{ "guest_missing_payload",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\"}}]}",
	  "m.json:2:75: the guest block of package \"a\" is missing required field \"payload\"" },
	{ "guest_test_type",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": 1, \"payload\": [\"t\"]}}]}",
	  "m.json:2:84: \"test\" of the guest block of package \"a\" must be a string, got an integer" },
	{ "guest_test_blank",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \" \", \"payload\": [\"t\"]}}]}",
	  "m.json:2:84: \"test\" of the guest block of package \"a\" is empty; expected a shell command" },
	{ "guest_prepare_type",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"prepare\": [\"make\"], \"test\": \"./t\", \"payload\": [\"t\"]}}]}",
	  "m.json:2:87: \"prepare\" of the guest block of package \"a\" must be a string, got an array" },
	{ "guest_prepare_blank",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"prepare\": \"\", \"test\": \"./t\", \"payload\": [\"t\"]}}]}",
	  "m.json:2:87: \"prepare\" of the guest block of package \"a\" is empty; expected a shell command (or no \"prepare\" key)" },
	{ "guest_payload_type",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": \"tests/*\"}}]}",
	  "m.json:2:102: \"payload\" of the guest block of package \"a\" must be an array, got a string" },
	{ "guest_payload_empty",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": []}}]}",
	  "m.json:2:102: \"payload\" of the guest block of package \"a\" is empty; expected at least one glob pattern, such as \"tests/test_*\"" },
	{ "guest_pattern_type",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"t\", 7]}}]}",
	  "m.json:2:108: payload pattern 2 of the guest block of package \"a\" must be a string, got an integer" },
	{ "guest_pattern_empty",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"\"]}}]}",
	  "m.json:2:103: payload pattern 1 of the guest block of package \"a\" is empty; expected a glob pattern relative to the source tree, such as \"tests/test_*\"" },
	{ "guest_pattern_absolute",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"t\", \"/bin/sh\"]}}]}",
	  "m.json:2:108: payload pattern 2 of the guest block of package \"a\" is absolute (\"/bin/sh\"); expected a glob pattern relative to the source tree, such as \"tests/test_*\"" },
	{ "guest_pattern_dotdot",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"tests/../../etc/*\"]}}]}",
	  "m.json:2:103: payload pattern 1 of the guest block of package \"a\" has a \"..\" component (\"tests/../../etc/*\"); expected a glob pattern inside the source tree, without \".\" or \"..\"" },
	{ "guest_pattern_dotdot_last",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"tests/..\"]}}]}",
	  "m.json:2:103: payload pattern 1 of the guest block of package \"a\" has a \"..\" component (\"tests/..\"); expected a glob pattern inside the source tree, without \".\" or \"..\"" },
	{ "guest_pattern_dot",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"./tests/test_*\"]}}]}",
	  "m.json:2:103: payload pattern 1 of the guest block of package \"a\" has a \".\" component (\"./tests/test_*\"); expected a glob pattern inside the source tree, without \".\" or \"..\"" },
	{ "guest_pattern_control",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"tests/\\u0001x\"]}}]}",
	  "m.json:2:103: payload pattern 1 of the guest block of package \"a\" has a control character at byte 7; expected a glob pattern without one" },
	{ "guest_unknown_key",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"tset\": \"./t\", \"payload\": [\"t\"]}}]}",
	  "m.json:2:76: unknown key \"tset\" in the guest block of package \"a\"; did you mean \"test\"?" },
	{ "guest_unknown_key_far",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\"], \"guest\": {\"test\": \"./t\", \"payload\": [\"t\"], \"memory\": 64}}]}",
	  "m.json:2:109: unknown key \"memory\" in the guest block of package \"a\"; expected one of: prepare, test, payload" },
	{ "vm_without_guest",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
	  "  {\"name\": \"dns\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"unix\", \"vm\"]}]}",
	  "m.json:2:69: package \"dns\" runs on target \"vm\" (runner vm) but has no \"guest\" block; expected {\"test\": ..., \"payload\": [...]}" },
	{ "xen_by_default_without_guest",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}, \"dom\": {\"runner\": \"xen\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"guest\": {\"test\": \"./t\", \"payload\": [\"t\"]}},\n"
	  "  {\"name\": \"dns\", \"repo\": \"r\", \"build\": \"make\"}]}",
	  "m.json:3:3: package \"dns\" runs on target \"dom\" (runner xen) but has no \"guest\" block; expected {\"test\": ..., \"payload\": [...]}" },
	{ "empty_repo",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"\", \"build\": \"make\"}]}",
	  "m.json:2:25: \"repo\" of package \"a\" is empty; expected a git URL or a local path" },
	{ "nul_in_string",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\\u0000x\", \"build\": \"make\"}]}",
	  "m.json:2:25: invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"r\\u0000x\"'" },
	{ "utf8_column",
	  "{\"universe\": \"ü\", \"targets\": {}, \"packages\": []}",
	  "m.json:1:14: invalid universe name \"ü\"; expected lowercase letters, digits, '.', '_' or '-', starting with a letter or digit" },
	{ "target_unknown_option",
	  "{\"universe\": \"u\", \"targets\": {\"vm\": {\"runner\": \"vm\", \"memroy\": 256}}, \"packages\": []}",
	  "m.json:1:54: unknown key \"memroy\" in target \"vm\" (runner vm); did you mean \"memory\"?" },
	{ "too_big_integer",
	  "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
	  "  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"timeout\": 123456789012345678901234567890}]}",
	  "m.json:2:58: invalid JSON: too big integer" },
	{ "control_characters_in_key",
	  "{\"universe\": \"u\", \"\\u001b[31mevil\": 1}",
	  "m.json:1:19: unknown key \"?[31mevil\" in the top level; expected one of: universe, targets, packages" },
};

START_TEST(test_bad_manifest)
{
	const struct bad_case *c = &bad_cases[_i];
	struct rp_universe *u = (void *)1;
	struct rp_error err = { .msg = "" };
	int rc = manifest_load_buffer(c->text, strlen(c->text), "m.json", &u, &err);
	ck_assert_msg(rc == RP_EINVAL, "case %s: rc %d", c->name, rc);
	ck_assert_ptr_null(u);
	ck_assert_msg(strcmp(err.msg, c->want) == 0, "case %s:\n got: %s\nwant: %s", c->name, err.msg, c->want);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	/* The position is also given as numbers, and matches the text. */
	char where[64];
	snprintf(where, sizeof(where), "m.json:%d:%d: ", err.line, err.column);
	ck_assert_msg(strncmp(err.msg, where, strlen(where)) == 0, "case %s: %s vs %d:%d", c->name, err.msg, err.line,
		      err.column);
}
END_TEST

static const char good[] =
	"{\n"
	"  \"universe\": \"mini\",\n"
	"  \"targets\": { \"unix\": { \"runner\": \"sandbox\" }, \"vm\": { \"runner\": \"vm\", \"memory\": 256 } },\n"
	"  \"packages\": [\n"
	"    { \"name\": \"app\", \"repo\": \"repos/app\", \"depends\": [\"net\", \"base\"], \"targets\": [\"unix\"],\n"
	"      \"build\": \"make\", \"env\": { \"ZED\": \"1\", \"ALPHA\": \"2\" } },\n"
	"    { \"name\": \"net\", \"repo\": \"https://example.org/net.git\", \"branch\": \"release/1.x\",\n"
	"      \"depends\": [\"base\"], \"build\": \"make\", \"test\": \"make check\", \"timeout\": 60,\n"
	"      \"version\": \"1.2.3\", \"coverage\": true,\n"
	"      \"api\": { \"library\": \"lib/libnet.so\", \"headers\": \"include\" },\n"
	"      \"fuzz\": [ { \"name\": \"parse\", \"binary\": \"fuzz/parse\", \"seconds\": 30, \"corpus\": \"fuzz/seeds\" }, { \"name\": \"x\", \"binary\": \"fuzz/x\" } ],\n"
	"      \"guest\": { \"prepare\": \"make tests\", \"test\": \"./tests/run\",\n"
	"                 \"payload\": [\"tests/test_*\", \"tests/data/*.bin\", \".config/a..b\"] },\n"
	"      \"notify\": { \"webhook\": \"https://hooks.example.org/ripple?token=abc\" } },\n"
	"    { \"name\": \"base\", \"repo\": \"repos/base\", \"build\": \"make\",\n"
	"      \"guest\": { \"test\": \"./t\", \"payload\": [\"t\"] } }\n"
	"  ]\n"
	"}\n";

START_TEST(test_good_manifest)
{
	struct rp_universe *u;
	struct rp_error err;
	ck_assert_int_eq(manifest_load_buffer(good, strlen(good), "dir/sub/ripple.json", &u, &err), 0);
	ck_assert_str_eq(u->name, "mini");
	ck_assert_str_eq(u->dir, "dir/sub");
	ck_assert_uint_eq(u->n_targets, 2);
	ck_assert_str_eq(u->targets[1].name, "vm");
	ck_assert_int_eq(u->targets[1].runner, RP_RUNNER_VM);
	ck_assert_uint_eq(u->n_packages, 3);
	const struct rp_package *app = &u->packages[0], *net = &u->packages[1], *base = &u->packages[2];
	ck_assert_str_eq(app->branch, "main");
	ck_assert_int_eq(app->timeout, MANIFEST_TIMEOUT_DEFAULT);
	ck_assert_ptr_null(app->test);
	ck_assert_ptr_null(app->version);
	ck_assert_uint_eq(app->n_depends, 2);
	ck_assert_uint_eq(app->depends[0], 1);
	ck_assert_uint_eq(app->depends[1], 2);
	ck_assert_uint_eq(app->n_targets, 1);
	ck_assert_uint_eq(app->targets[0], 0);
	ck_assert_uint_eq(app->n_env, 2);
	ck_assert_str_eq(app->env[0].name, "ALPHA"); /* sorted */
	ck_assert_str_eq(app->env[1].value, "1");
	ck_assert_str_eq(net->branch, "release/1.x");
	ck_assert_str_eq(net->test, "make check");
	ck_assert_int_eq(net->timeout, 60);
	ck_assert_int_eq(net->output_timeout, MANIFEST_OUTPUT_TIMEOUT_DEFAULT);
	ck_assert_str_eq(net->version, "1.2.3");
	ck_assert_int_eq(net->coverage, 1);
	ck_assert_int_eq(net->has_api, 1);
	ck_assert_str_eq(net->api_library, "lib/libnet.so");
	ck_assert_str_eq(net->api_headers, "include");
	ck_assert_uint_eq(net->n_fuzz, 2);
	ck_assert_str_eq(net->fuzz[0].name, "parse");
	ck_assert_int_eq(net->fuzz[0].seconds, 30);
	ck_assert_int_eq(net->fuzz[1].seconds, 60);
	ck_assert_str_eq(net->fuzz[0].corpus, "fuzz/seeds");
	ck_assert_ptr_null(net->fuzz[1].corpus);
	ck_assert_int_eq(net->has_guest, 1);
	ck_assert_str_eq(net->guest_prepare, "make tests");
	ck_assert_str_eq(net->guest_test, "./tests/run");
	ck_assert_uint_eq(net->n_guest_payload, 3);
	ck_assert_str_eq(net->guest_payload[0], "tests/test_*");
	ck_assert_str_eq(net->guest_payload[1], "tests/data/*.bin");
	ck_assert_str_eq(net->guest_payload[2], ".config/a..b"); /* dots inside a component are fine */
	ck_assert_int_eq(base->has_guest, 1);
	ck_assert_ptr_null(base->guest_prepare);
	ck_assert_uint_eq(base->n_guest_payload, 1);
	ck_assert_int_eq(app->has_guest, 0); /* unix only: no guest needed */
	ck_assert_ptr_null(app->guest_test);
	ck_assert_ptr_null(app->guest_payload);
	ck_assert_uint_eq(app->n_guest_payload, 0);
	ck_assert_str_eq(net->notify_webhook, "https://hooks.example.org/ripple?token=abc");
	ck_assert_ptr_null(app->notify_webhook);
	ck_assert_ptr_null(base->notify_webhook);
	ck_assert_uint_eq(base->n_targets, 2); /* default: every target */
	ck_assert_int_eq(base->coverage, 0);
	ck_assert_int_eq(manifest_find_package(u, "base"), 2);
	ck_assert_int_eq(manifest_find_package(u, "nope"), -1);
	manifest_free(u);
}
END_TEST

START_TEST(test_file_errors)
{
	struct rp_universe *u;
	struct rp_error err;
	ck_assert_int_eq(manifest_load_file("no/such/ripple.json", &u, &err), RP_EIO);
	ck_assert_str_eq(err.msg, "no/such/ripple.json: cannot open the manifest: No such file or directory");
	ck_assert_int_eq(manifest_load_file(".", &u, &err), RP_EIO);
	ck_assert_str_eq(err.msg, ".: cannot read the manifest: it is a directory");

	char path[] = "/tmp/ripple-manifest-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	close(fd);
	ck_assert_int_eq(manifest_load_file(path, &u, &err), 0);
	ck_assert_uint_eq(u->n_packages, 3);
	manifest_free(u);
	unlink(path);
}
END_TEST

START_TEST(test_suggest)
{
	static const char *const words[] = { "depends", "targets", "timeout", "build" };
	ck_assert_str_eq(manifest_suggest("dependz", words, 4), "depends");
	ck_assert_str_eq(manifest_suggest("TIMEOUT", words, 4), "timeout");
	ck_assert_str_eq(manifest_suggest("biuld", words, 4), "build");
	ck_assert_ptr_null(manifest_suggest("colour", words, 4));
	ck_assert_ptr_null(manifest_suggest("x", words, 4));
	ck_assert(manifest_valid_name("ocaml-cstruct.2_x"));
	ck_assert(!manifest_valid_name("-x"));
	ck_assert(!manifest_valid_name(""));
	ck_assert(!manifest_valid_name("A"));
	char long_name[MANIFEST_NAME_MAX + 2];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ck_assert(!manifest_valid_name(long_name));
}
END_TEST

/* A webhook URL of MANIFEST_WEBHOOK_MAX bytes is taken, one byte more is refused; plain http is fine. */
START_TEST(test_notify_webhook_length)
{
	static const char head[] =
		"{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
		"  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"notify\": {\"webhook\": \"";
	char url[MANIFEST_WEBHOOK_MAX + 2], text[sizeof(head) + sizeof(url) + 16];
	struct rp_universe *u;
	struct rp_error err;
	memset(url, 'x', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	memcpy(url, "http://h.example/", 17);
	url[MANIFEST_WEBHOOK_MAX] = '\0';
	snprintf(text, sizeof(text), "%s%s\"}}]}", head, url);
	ck_assert_msg(manifest_load_buffer(text, strlen(text), "m.json", &u, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(strlen(u->packages[0].notify_webhook), MANIFEST_WEBHOOK_MAX);
	ck_assert_str_eq(u->packages[0].notify_webhook, url);
	manifest_free(u);
	url[MANIFEST_WEBHOOK_MAX] = 'x';
	snprintf(text, sizeof(text), "%s%s\"}}]}", head, url);
	ck_assert_int_eq(manifest_load_buffer(text, strlen(text), "m.json", &u, &err), RP_EINVAL);
	ck_assert_ptr_null(u);
	ck_assert_str_eq(err.msg, "m.json:2:69: \"webhook\" of the notify block of package \"a\" is 2001 bytes long; "
				  "expected at most 2000");
}
END_TEST

/* Where coverage and fuzz jobs run: a local target ("unix" first), for fuzzing else a vm one, never xen. */
START_TEST(test_coverage_and_fuzz_targets)
{
	static const char text[] =
		"{\"universe\": \"u\", \"targets\": {\"vm\": {\"runner\": \"vm\"}, \"xen\": {\"runner\": \"xen\"},\n"
		"  \"local\": {\"runner\": \"process\"}, \"unix\": {\"runner\": \"sandbox\"}}, \"packages\": [\n"
		"  {\"name\": \"both\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\", \"local\", \"unix\"],\n"
		"   \"guest\": {\"test\": \"./t\", \"payload\": [\"t\"]}},\n"
		"  {\"name\": \"local\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"vm\", \"local\"],\n"
		"   \"guest\": {\"test\": \"./t\", \"payload\": [\"t\"]}},\n"
		"  {\"name\": \"vm\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"xen\", \"vm\"],\n"
		"   \"guest\": {\"test\": \"./t\", \"payload\": [\"t\"]}},\n"
		"  {\"name\": \"xen\", \"repo\": \"r\", \"build\": \"make\", \"targets\": [\"xen\"],\n"
		"   \"guest\": {\"test\": \"./t\", \"payload\": [\"t\"]}}]}";
	struct rp_universe *u;
	struct rp_error err;
	ck_assert_msg(manifest_load_buffer(text, strlen(text), "m.json", &u, &err) == 0, "%s", err.msg);
	static const char *const want[][3] = {
		{"both", "unix", "unix"}, {"local", "local", "local"}, {"vm", NULL, "vm"}, {"xen", NULL, NULL}};
	for (size_t i = 0; i < 4; i++) {
		const struct rp_package *p = &u->packages[manifest_find_package(u, want[i][0])];
		long c = manifest_coverage_target(u, p), f = manifest_fuzz_target(u, p);
		ck_assert_msg(want[i][1] ? c >= 0 && strcmp(u->targets[c].name, want[i][1]) == 0 : c < 0, "%s", want[i][0]);
		ck_assert_msg(want[i][2] ? f >= 0 && strcmp(u->targets[f].name, want[i][2]) == 0 : f < 0, "%s", want[i][0]);
	}
	manifest_free(u);
}
END_TEST

/*
 * A guest payload of MANIFEST_GUEST_PAYLOAD_MAX patterns of MANIFEST_GUEST_PATTERN_MAX
 * bytes is taken; one pattern more, or one byte more, is refused.
 */
START_TEST(test_guest_payload_limits)
{
	static const char head[] =
		"{\"universe\": \"u\", \"targets\": {\"vm\": {\"runner\": \"vm\"}}, \"packages\": [\n"
		"  {\"name\": \"a\", \"repo\": \"r\", \"build\": \"make\", \"guest\": {\"test\": \"./t\", \"payload\": [";
	size_t cap = sizeof(head) + (MANIFEST_GUEST_PAYLOAD_MAX + 1) * (MANIFEST_GUEST_PATTERN_MAX + 8) + 16;
	char *text = malloc(cap);
	char pattern[MANIFEST_GUEST_PATTERN_MAX + 2];
	struct rp_universe *u;
	struct rp_error err;
	memset(pattern, 'x', sizeof(pattern) - 1);
	pattern[sizeof(pattern) - 1] = '\0';
	memcpy(pattern, "tests/", 6);
	for (int more = 0; more < 2; more++) {
		size_t used = (size_t)snprintf(text, cap, "%s", head);
		for (size_t i = 0; i < MANIFEST_GUEST_PAYLOAD_MAX + (size_t)more; i++)
			used += (size_t)snprintf(text + used, cap - used, "%s\"%.*s\"", i ? ", " : "",
						 MANIFEST_GUEST_PATTERN_MAX, pattern);
		used += (size_t)snprintf(text + used, cap - used, "]}}]}");
		int rc = manifest_load_buffer(text, used, "m.json", &u, &err);
		if (!more) {
			ck_assert_msg(rc == 0, "%s", err.msg);
			ck_assert_uint_eq(u->packages[0].n_guest_payload, MANIFEST_GUEST_PAYLOAD_MAX);
			ck_assert_uint_eq(strlen(u->packages[0].guest_payload[63]), MANIFEST_GUEST_PATTERN_MAX);
			manifest_free(u);
		} else {
			ck_assert_int_eq(rc, RP_EINVAL);
			ck_assert_str_eq(err.msg, "m.json:2:83: \"payload\" of the guest block of package \"a\" has 65 "
						  "patterns; expected at most 64");
		}
	}
	int used = snprintf(text, cap, "%s\"t\", \"%s\"]}}]}", head, pattern);
	ck_assert_int_eq(manifest_load_buffer(text, (size_t)used, "m.json", &u, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "m.json:2:89: payload pattern 2 of the guest block of package \"a\" is 257 bytes "
				  "long; expected at most 256");
	free(text);
}
END_TEST

/* No input crashes the parser: mutate a valid manifest at random (ASan watches). */
START_TEST(test_mutations_never_crash)
{
	size_t len = strlen(good);
	char *buf = malloc(len + 1);
	unsigned seed = 12345;
	static const char alphabet[] = "{}[]\",:0123456789abcz\\ \n-.e";
	size_t accepted = 0;
	for (int round = 0; round < 3000; round++) {
		memcpy(buf, good, len + 1);
		size_t cut = len;
		int edits = 1 + (int)(rand_r(&seed) % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)rand_r(&seed) % len;
			switch (rand_r(&seed) % 3) {
			case 0:
				buf[at] = alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
				break;
			case 1:
				buf[at] = (char)(rand_r(&seed) % 256 ? rand_r(&seed) % 256 : 1);
				break;
			default:
				cut = at;
			}
		}
		struct rp_universe *u;
		struct rp_error err;
		if (manifest_load_buffer(buf, cut, "m.json", &u, &err) == 0) {
			accepted++;
			manifest_free(u);
		} else {
			int line = 0, column = 0, used = 0;
			ck_assert_msg(sscanf(err.msg, "m.json:%d:%d: %n", &line, &column, &used) == 2 && used > 0 &&
					      line >= 1 && column >= 1,
				      "error without line and column: %s", err.msg);
		}
	}
	free(buf);
	ck_assert_uint_lt(accepted, 3000);
}
END_TEST

/* Only `len` bytes are read: a buffer without a terminating NUL is fine. */
START_TEST(test_unterminated_buffer)
{
	char *blank = malloc(3);
	memcpy(blank, "   ", 3);
	struct rp_universe *u;
	struct rp_error err;
	ck_assert_int_eq(manifest_load_buffer(blank, 3, "m.json", &u, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "m.json:1:1: the file is empty; expected a JSON object describing a universe");
	free(blank);
}
END_TEST

/* Duplicate checks stay linear: 50,000 fuzz targets or dependencies are checked at once. */
START_TEST(test_many_entries)
{
	size_t n = 50000, cap = n * 64 + 4096, used = 0;
	char *buf = malloc(cap);
	used += (size_t)snprintf(buf + used, cap - used,
				 "{\"universe\": \"u\", \"targets\": {\"unix\": {\"runner\": \"sandbox\"}}, \"packages\": ["
				 "{\"name\": \"a\", \"repo\": \"r\", \"build\": \"b\", \"fuzz\": [");
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, cap - used, "%s{\"name\": \"f%zu\", \"binary\": \"x\"}",
					 i ? "," : "", i + 1 == n ? 0 : i);
	used += (size_t)snprintf(buf + used, cap - used, "]}]}");
	struct rp_universe *u;
	struct rp_error err;
	ck_assert_int_eq(manifest_load_buffer(buf, used, "m.json", &u, &err), RP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate fuzz target \"f0\" in package \"a\""));
	free(buf);
}
END_TEST

START_TEST(test_deep_nesting)
{
	size_t depth = 100000;
	char *buf = malloc(2 * depth + 1);
	memset(buf, '[', depth);
	memset(buf + depth, ']', depth);
	buf[2 * depth] = '\0';
	struct rp_universe *u;
	struct rp_error err;
	ck_assert_int_eq(manifest_load_buffer(buf, 2 * depth, "deep.json", &u, &err), RP_EINVAL);
	ck_assert_msg(strstr(err.msg, "deep.json:1:") == err.msg, "%s", err.msg);
	free(buf);
}
END_TEST

/* Error messages go into JSON answers: always one line of well-formed UTF-8. */
START_TEST(test_error_messages_are_utf8)
{
	struct rp_error err;
	/* A name cut in the middle of "é" (C3 A9), a lone continuation byte, a control, an overlong NUL. */
	rp_error_set(&err, RP_EINVAL, "name %.4s; %s; %s; %s", "abc\xc3\xa9", "x\xa9y", "a\nb", "\xc0\x80");
	ck_assert_str_eq(err.msg, "name abc?; x?y; a?b; ??");
	rp_error_set(&err, RP_EINVAL, "kept: %s", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	ck_assert_str_eq(err.msg, "kept: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	rp_error_set(&err, RP_EINVAL, "%s", "\xed\xa0\x80 surrogate, \xe2\x80\xa8 separator");
	ck_assert_str_eq(err.msg, "??? surrogate, ? separator");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("manifest");
	tcase_add_loop_test(tc, test_bad_manifest, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_good_manifest);
	tcase_add_test(tc, test_notify_webhook_length);
	tcase_add_test(tc, test_guest_payload_limits);
	tcase_add_test(tc, test_coverage_and_fuzz_targets);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_suggest);
	tcase_add_test(tc, test_mutations_never_crash);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_unterminated_buffer);
	tcase_add_test(tc, test_many_entries);
	tcase_add_test(tc, test_error_messages_are_utf8);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
