#!/usr/bin/env bash
#
# tests/examples/test_universe.sh GENERATE RIPPLE
#
# Integration test of the example universe (examples/generate): it must be
# deterministic, ripple must accept its manifest, every package must build and
# pass its tests at its branch head, and each scenario recorded in
# scenarios.json must really behave as recorded: the API break breaks exactly
# the packages it names, the regression is caught by tcpip only, the WIP commit
# does not build, the flaky test is flaky, the fuzz crash crashes.
#
# Prints one TAP line per check ("ok - ..." / "not ok - ...", details as "#"
# comments) and exits non-zero if any check failed.

set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: test_universe.sh path/to/examples/generate path/to/ripple" >&2
    exit 2
fi
GENERATE=$1
RIPPLE=$2

WORK=$(mktemp -d -t ripple-universe.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
U=$WORK/u         # the universe the checks use
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/src" "$WORK/prefix"

# The caller's build environment must not change what is tested.
unset CFLAGS CPPFLAGS LDFLAGS CPATH LIBRARY_PATH LD_LIBRARY_PATH PKG_CONFIG_PATH \
      MAKEFLAGS MFLAGS MAKELEVEL GIT_DIR GIT_WORK_TREE
export LC_ALL=C GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export ASAN_OPTIONS=detect_leaks=0

# The dependency graph, hard-coded here (and checked against ripple.json):
# a topological order, and each package's transitive dependencies.
ORDER="cstruct ipaddr checkseum ethif dns tcpip unikernel"
declare -A DIRECT=(
    [cstruct]="" [ipaddr]="" [checkseum]="cstruct" [ethif]="cstruct" [dns]="cstruct"
    [tcpip]="cstruct checkseum ipaddr ethif" [unikernel]="cstruct dns ipaddr tcpip"
)
declare -A CLOSURE=(
    [cstruct]="" [ipaddr]="" [checkseum]="cstruct" [ethif]="cstruct" [dns]="cstruct"
    [tcpip]="cstruct checkseum ipaddr ethif"
    [unikernel]="cstruct checkseum ipaddr ethif dns tcpip"
)

# ---------------------------------------------------------------------------
# Reporting. A check is a function run in a subshell with errexit on (outside
# any condition, where bash would switch errexit off); its output goes to a
# log that is shown when it fails.

CHECKS=0
FAILED=0

# A check function fails with a non-zero status; nothing is ever skipped.
run_check() {  # run_check "description" FUNCTION [ARGS...]
    local desc=$1 log rc
    shift
    CHECKS=$((CHECKS + 1))
    log=$LOGS/check.$CHECKS.log
    set +e
    (set -e; "$@") >"$log" 2>&1
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        echo "ok - $desc"
    else
        echo "not ok - $desc"
        tail -n 30 "$log" | sed 's/^/#   /'
        FAILED=$((FAILED + 1))
    fi
}

fail() { echo "$*" >&2; return 1; }

# ---------------------------------------------------------------------------
# scenarios.json and ripple.json, read without a JSON tool: the generator
# pretty-prints them one value per line (as jq does), and flatten() turns that
# into "path=value" lines, array elements repeating their array's path.

flatten() {  # flatten FILE
    awk '
    function path(k,    p, i) {
        p = ""
        for (i = 2; i <= depth; i++)
            if (stack[i] != "") p = p (p == "" ? "" : ".") stack[i]
        if (k != "") p = p (p == "" ? "" : ".") k
        return p
    }
    {
        line = $0
        sub(/^[ \t]+/, "", line)
        sub(/,$/, "", line)
        key = ""
        if (match(line, /^"[^"]*": /)) {
            key = substr(line, 2, RLENGTH - 4)
            line = substr(line, RLENGTH + 1)
        }
        if (line == "[]" || line == "{}") next
        if (line == "{" || line == "[") { stack[++depth] = key; next }
        if (line == "}" || line == "]") { depth--; next }
        if (line ~ /^".*"$/) line = substr(line, 2, length(line) - 2)
        print path(key) "=" line
    }' "$1"
}

sget() {  # sget PATH: the value(s) at PATH in scenarios.json
    flatten "$U/scenarios.json" | sed -n "s|^$1=||p"
}

one() {  # one PATH: exactly one non-empty value at PATH in scenarios.json
    local v
    v=$(sget "$1")
    [ -n "$v" ] && [ "$(printf '%s\n' "$v" | wc -l)" -eq 1 ] || fail "scenarios.json: no single value at $1"
    printf '%s\n' "$v"
}

# ---------------------------------------------------------------------------
# Building. Each build checks a commit out into its own directory and installs
# into its own prefix, named by a label. Dependencies are found only through
# the environment a CI job would get: PKG_CONFIG_PATH, CPATH, LIBRARY_PATH,
# LD_LIBRARY_PATH pointing at the dependencies' prefixes.

dep_env() {  # dep_env LABEL...: export the environment of a job with these dependency builds
    local l pc="" inc="" lib=""
    for l in "$@"; do
        pc+=${pc:+:}$WORK/prefix/$l/lib/pkgconfig
        inc+=${inc:+:}$WORK/prefix/$l/include
        lib+=${lib:+:}$WORK/prefix/$l/lib
    done
    export PKG_CONFIG_PATH=$pc CPATH=$inc LIBRARY_PATH=$lib LD_LIBRARY_PATH=$lib
}

build_steps() {  # build_steps NAME PREFIX: the package's build step, in its checkout
    case $1 in
    unikernel)
        cmake -S . -B _build -DCMAKE_INSTALL_PREFIX="$2" &&
            cmake --build _build -j2 && cmake --install _build ;;
    *)
        make -j2 && make install PREFIX="$2" ;;
    esac
}

test_steps() {  # test_steps NAME: the package's test step, in its checkout
    case $1 in
    unikernel) (cd _build && ctest --output-on-failure) ;;
    *) make -j2 check ;;
    esac
}

# build NAME REV LABEL [DEP_LABEL...]: build and install REV of NAME as LABEL
# against the given dependency builds (all of them, transitive ones too). The
# log is $LOGS/build.LABEL.log. A label already built is reused.
build() {
    local name=$1 rev=$2 label=$3 src prefix
    shift 3
    src=$WORK/src/$label
    prefix=$WORK/prefix/$label
    [ ! -e "$prefix/.built" ] || return 0
    rm -rf "$src" "$prefix"
    mkdir -p "$src"
    git -C "$U/repos/$name" archive "$rev" | tar -x -C "$src" || return 1
    if ! (cd "$src" && dep_env "$@" && build_steps "$name" "$prefix") \
        >"$LOGS/build.$label.log" 2>&1; then
        echo "build of $name at $rev ($label) failed:"
        tail -n 15 "$LOGS/build.$label.log"
        return 1
    fi
    touch "$prefix/.built"
}

# run_tests NAME LABEL [DEP_LABEL...]: run the test step of a build; log in
# $LOGS/test.LABEL.log.
run_tests() {
    local name=$1 label=$2
    shift 2
    (cd "$WORK/src/$label" && dep_env "$@" && test_steps "$name") >"$LOGS/test.$label.log" 2>&1
}

at() {  # at SUFFIX NAME...: the labels NAME@SUFFIX
    local s=$1 n
    shift
    for n in "$@"; do printf '%s@%s ' "$n" "$s"; done
}

# build_head NAME: NAME at its branch head against the head builds.
build_head() {
    # shellcheck disable=SC2046
    build "$1" main "$1@head" $(at head ${CLOSURE[$1]})
}

# ---------------------------------------------------------------------------
# The checks.

check_refuses_nonempty() {
    local err rc=0
    mkdir -p "$WORK/nonempty"
    touch "$WORK/nonempty/file"
    "$GENERATE" "$WORK/nonempty" 2>"$WORK/refuse.err" >/dev/null || rc=$?
    err=$(cat "$WORK/refuse.err")
    echo "exit status $rc, stderr: $err"
    [ "$rc" -eq 2 ] || fail "expected exit status 2"
    [ "$(wc -l <"$WORK/refuse.err")" -eq 1 ] || fail "expected one line on stderr"
    [ ! -e "$WORK/nonempty/ripple.json" ] || fail "it wrote into the directory anyway"
}

check_deterministic() {
    local start end r a b
    start=$(date +%s%N)
    "$GENERATE" "$U"
    end=$(date +%s%N)
    echo "generate took $(((end - start) / 1000000)) ms"
    mkdir "$WORK/u2" # an empty directory is accepted too
    "$GENERATE" "$WORK/u2"
    cmp "$U/ripple.json" "$WORK/u2/ripple.json"
    cmp "$U/scenarios.json" "$WORK/u2/scenarios.json"
    for r in $ORDER; do
        a=$(git -C "$U/repos/$r" log --all --format='%H %T %an %ad %cn %cd %s' --date=raw)
        b=$(git -C "$WORK/u2/repos/$r" log --all --format='%H %T %an %ad %cn %cd %s' --date=raw)
        [ "$a" = "$b" ] || fail "$r: histories differ between two runs"
        [ "$(git -C "$U/repos/$r" rev-parse main)" = "$(one "heads.$r")" ] ||
            fail "$r: scenarios.json records the wrong head"
        [ -z "$(git -C "$U/repos/$r" status --porcelain)" ] || fail "$r: work tree not clean"
    done
    [ "$(cat "$U"/repos/*/.git/HEAD | sort -u)" = "ref: refs/heads/main" ] || fail "a HEAD is not main"
    # several authors, commit dates in order, in 2026, all in one timezone
    [ "$(for r in $ORDER; do git -C "$U/repos/$r" log --format=%an main; done | sort -u | wc -l)" -ge 3 ] ||
        fail "fewer than three authors"
    for r in $ORDER; do
        a=$(git -C "$U/repos/$r" log --reverse --format='%cd' --date=raw main | cut -d' ' -f1)
        [ "$a" = "$(printf '%s\n' "$a" | sort -n)" ] || fail "$r: commit dates do not advance"
        git -C "$U/repos/$r" log --format='%ad' --date=iso main | grep -qv '^2026-.* +0100$' &&
            fail "$r: a date outside 2026 or another timezone"
        [ "$(git -C "$U/repos/$r" rev-list --count main)" -ge 3 ] || fail "$r: fewer than 3 commits"
    done
}

check_ripple_check() {
    if [ ! -x "$RIPPLE" ]; then
        fail "the ripple binary '$RIPPLE' does not exist or is not executable"
    fi
    "$RIPPLE" check "$U/ripple.json"
}

check_manifest() {
    local flat name v want deps first
    flat=$(flatten "$U/ripple.json")
    [ "$(printf '%s\n' "$flat" | sed -n 's/^universe=//p')" = mirage-mini ] || fail "universe"
    # packages in file order, each with its version and depends
    name=""
    first=""
    declare -A seen_version seen_deps
    while IFS= read -r line; do
        case $line in
        packages.name=*) name=${line#*=}; first=${first:-$name}; seen_deps[$name]="" ;;
        packages.version=*) seen_version[$name]=${line#*=} ;;
        packages.depends=*) seen_deps[$name]+="${line#*=} " ;;
        esac
    done <<<"$flat"
    [ "$first" != cstruct ] && [ "$first" != ipaddr ] || fail "packages are listed in topological order"
    for name in $ORDER; do
        [ -n "${seen_version[$name]:-}" ] || fail "$name: missing from ripple.json"
        if [ "$name" = unikernel ]; then
            v=$(git -C "$U/repos/$name" show main:CMakeLists.txt | sed -n 's/^project([a-z]* VERSION \([0-9.]*\).*/\1/p')
        else
            v=$(git -C "$U/repos/$name" show main:Makefile | sed -n 's/^VERSION = //p')
        fi
        [ "$v" = "${seen_version[$name]}" ] || fail "$name: ripple.json says ${seen_version[$name]}, the head says $v"
        want=$(printf '%s\n' ${DIRECT[$name]} | sort | xargs)
        deps=$(printf '%s\n' ${seen_deps[$name]} | sort | xargs)
        [ "$want" = "$deps" ] || fail "$name: ripple.json depends on '$deps', this test assumes '$want'"
    done
}

check_heads() {
    local p i
    for p in $ORDER; do
        build_head "$p"
        # shellcheck disable=SC2046
        for i in 1 2 3 4 5 6 7 8 9 10; do
            if run_tests "$p" "$p@head" $(at head ${CLOSURE[$p]}); then
                break
            fi
            if [ "$p" != checkseum ] || [ "$i" -eq 10 ]; then
                echo "tests of $p failed at its head:"
                tail -n 15 "$LOGS/test.$p@head.log"
                return 1
            fi
            echo "checkseum (flaky) failed attempt $i, retrying"
        done
        echo "$p: built and tested"
    done
}

check_installs() {
    local p prefix major v lib
    for p in $ORDER; do
        prefix=$WORK/prefix/$p@head
        [ -e "$prefix/.built" ] || fail "$p was not built at its head"
        v=$(sed -n 's/^prefix=//p' "$prefix/lib/pkgconfig/$p.pc")
        [ "$v" = "$prefix" ] || fail "$p.pc: prefix=$v"
        v=$(sed -n 's/^Version: //p' "$prefix/lib/pkgconfig/$p.pc")
        [ -n "$v" ] || fail "$p.pc: no Version"
        major=${v%%.*}
        lib=$prefix/lib/lib$p.so.$major
        [ -L "$prefix/lib/lib$p.so" ] && [ -e "$lib" ] || fail "$p: missing lib$p.so or lib$p.so.$major"
        readelf -d "$lib" | grep -q "SONAME.*\[lib$p\.so\.$major\]" || fail "$p: soname is not lib$p.so.$major"
        ! readelf -d "$lib" | grep -Eq 'RPATH|RUNPATH' || fail "$p: the library has an rpath"
        grep -q "^Requires:.*" "$prefix/lib/pkgconfig/$p.pc" || [ -z "${DIRECT[$p]}" ] ||
            fail "$p.pc: no Requires"
        [ -n "$(ls "$prefix/include"/*.h)" ] || fail "$p: no headers installed"
    done
    for t in "$WORK"/src/*@head/tests/test_* "$WORK/src/unikernel@head/_build/test_unikernel"; do
        case $t in *.c | *.h) continue ;; esac
        ! readelf -d "$t" | grep -Eq 'RPATH|RUNPATH' || fail "$t has an rpath"
    done
}

# CFLAGS and LDFLAGS from the environment reach the compiler (coverage data
# appears), and a build does not depend on the directory it ran in.
check_flags_and_reproducibility() {
    local d
    for d in cov1 cov2; do
        mkdir -p "$WORK/$d"
        git -C "$U/repos/cstruct" archive main | tar -x -C "$WORK/$d"
        (cd "$WORK/$d" && CFLAGS="--coverage -g" make -j2 check) >"$LOGS/$d.log" 2>&1 ||
            fail "cstruct: make check with CFLAGS=--coverage failed"
    done
    [ -e "$WORK/cov1/src/cstruct.gcda" ] || fail "cstruct: CFLAGS=--coverage was ignored (no .gcda)"
    for d in rep1 rep2/deeper; do
        mkdir -p "$WORK/$d"
        git -C "$U/repos/cstruct" archive main | tar -x -C "$WORK/$d"
        (cd "$WORK/$d" && CFLAGS=-g make -j2) >"$LOGS/rep.log" 2>&1
    done
    cmp "$WORK/rep1/libcstruct.so.2.1.0" "$WORK/rep2/deeper/libcstruct.so.2.1.0" ||
        fail "cstruct: the -g library differs between two build directories"
    mkdir -p "$WORK/ucov"
    git -C "$U/repos/unikernel" archive main | tar -x -C "$WORK/ucov"
    # shellcheck disable=SC2046
    (cd "$WORK/ucov" && dep_env $(at head ${CLOSURE[unikernel]}) &&
        CFLAGS=--coverage LDFLAGS=--coverage cmake -S . -B _build -DCMAKE_INSTALL_PREFIX="$WORK/ucov/p" &&
        cmake --build _build -j2 && (cd _build && ctest --output-on-failure)) >"$LOGS/ucov.log" 2>&1 ||
        fail "unikernel: build and test with CFLAGS=--coverage failed"
    [ -n "$(find "$WORK/ucov/_build" -name '*.gcda' | head -n 1)" ] ||
        fail "unikernel: CFLAGS=--coverage was ignored (no .gcda)"
}

# commit_at NAME EPOCH: the last commit of NAME's branch made at or before EPOCH
commit_at() {
    local c t
    while read -r c t; do
        if [ "$t" -le "$2" ]; then
            echo "$c"
            return 0
        fi
    done < <(git -C "$U/repos/$1" log --format='%H %ct' main)
    fail "$1 has no commit before $2"
}

check_api_break() {
    local brk good pkg log other err before brk_time rev
    brk=$(one scenarios.api_break.commit)
    good=$(one scenarios.api_break.good)
    err=$(one scenarios.api_break.error_contains)
    [ "$(git -C "$U/repos/cstruct" rev-parse "$brk^")" = "$good" ] || fail "good is not the parent of the break"
    [ "$(sget scenarios.api_break.breaks | xargs)" = "dns ethif" ] || fail "breaks is not [dns, ethif]"
    [ "$(sget scenarios.api_break.still_build | xargs)" = "checkseum tcpip unikernel" ] ||
        fail "still_build is not [checkseum, tcpip, unikernel]"
    git -C "$U/repos/cstruct" show "$brk:Makefile" | grep -q '^VERSION = 2\.0\.0$' || fail "no bump to 2.0.0"
    git -C "$U/repos/cstruct" show "$good:Makefile" | grep -q '^VERSION = 1\.' || fail "the parent is not 1.x"
    # The two broken packages do not depend on each other, so that a CI
    # reports two regressions, and skips what is downstream of them.
    for pkg in dns ethif; do
        case " ${CLOSURE[$pkg]} " in
        *" dns "* | *" ethif "*) fail "$pkg depends on dns or ethif" ;;
        esac
    done
    for pkg in dns ethif; do
        before=$(one "scenarios.api_break.adapted.$pkg.before")
        [ "$(git -C "$U/repos/$pkg" rev-parse "$(one "scenarios.api_break.adapted.$pkg.commit")^")" = "$before" ] ||
            fail "$pkg: before is not the parent of the adapting commit"
        [ "$(one "scenarios.api_break.adapted.$pkg.subject")" = "Adapt to cstruct 2.0 API" ] ||
            fail "$pkg: the adapting commit has another subject"
        git -C "$U/repos/$pkg" merge-base --is-ancestor "$(one "scenarios.api_break.adapted.$pkg.commit")" main ||
            fail "$pkg: the adapting commit is not on main"
    done
    build cstruct "$brk" cs@v2
    build cstruct "$good" cs@v1

    # The base: cstruct 1.x, dns and ethif before they adapted, the others at
    # their heads. Everything builds and passes its tests ...
    build dns "$(one scenarios.api_break.adapted.dns.before)" dns-old@v1 cs@v1
    build ethif "$(one scenarios.api_break.adapted.ethif.before)" ethif-old@v1 cs@v1
    build checkseum main checkseum@v1 cs@v1
    build tcpip main tcpip@v1 cs@v1 checkseum@v1 ipaddr@head ethif-old@v1
    build unikernel main unikernel@v1 cs@v1 checkseum@v1 ipaddr@head ethif-old@v1 dns-old@v1 tcpip@v1
    run_tests dns dns-old@v1 cs@v1 || fail "dns before adapting fails its tests against cstruct 1.x"
    run_tests ethif ethif-old@v1 cs@v1 || fail "ethif before adapting fails its tests against cstruct 1.x"
    run_tests tcpip tcpip@v1 cs@v1 checkseum@v1 ipaddr@head ethif-old@v1 ||
        fail "tcpip at its head fails its tests against cstruct 1.x"
    run_tests unikernel unikernel@v1 cs@v1 checkseum@v1 ipaddr@head ethif-old@v1 dns-old@v1 tcpip@v1 ||
        fail "unikernel at its head fails its tests against cstruct 1.x"

    # ... and with cstruct at the break, dns and ethif before they adapted
    # fail, with a compile error about cs_get_be16.
    for pkg in dns ethif; do
        before=$(one "scenarios.api_break.adapted.$pkg.before")
        if build "$pkg" "$before" "$pkg-old@v2" cs@v2; then
            fail "$pkg before adapting builds against cstruct 2.0.0"
        fi
        log=$LOGS/build.$pkg-old@v2.log
        grep -qF "$err" "$log" || fail "$pkg-old@v2: the error is not about cs_get_be16"
        grep -Eq 'error: (too few arguments|incompatible)' "$log" || fail "$pkg-old@v2: not a compile error"
    done

    # Every other direct reverse dependency of cstruct still builds against
    # 2.0.0, at its head and as it was when the break landed.
    brk_time=$(git -C "$U/repos/cstruct" log -1 --format=%ct "$brk")
    build checkseum main checkseum@v2 cs@v2
    build ethif main ethif@v2 cs@v2
    build dns main dns@v2 cs@v2
    build tcpip main tcpip@v2 cs@v2 checkseum@v2 ipaddr@head ethif@v2
    build unikernel main unikernel@v2 cs@v2 checkseum@v2 ipaddr@head ethif@v2 dns@v2 tcpip@v2
    rev=$(commit_at checkseum "$brk_time")
    build checkseum "$rev" checkseum-at-break@v2 cs@v2
    rev=$(commit_at tcpip "$brk_time")
    build tcpip "$rev" tcpip-at-break@v2 cs@v2 checkseum@v2 ipaddr@head ethif@v2
    for other in $ORDER; do
        case " ${DIRECT[$other]} " in *" cstruct "*) ;; *) continue ;; esac
        case $other in dns | ethif) continue ;; esac
        case " $(sget scenarios.api_break.still_build | xargs) " in
        *" $other "*) ;;
        *) fail "$other depends on cstruct but is in neither breaks nor still_build" ;;
        esac
    done
}

# Only cstruct itself and the two packages the break names use cs_get_be16:
# nothing else mentions it at its head, or at any commit since the break.
check_api_break_callers() {
    local p c t brk_time
    brk_time=$(git -C "$U/repos/cstruct" log -1 --format=%ct "$(one scenarios.api_break.commit)")
    for p in $ORDER; do
        case $p in
        cstruct) continue ;;
        dns | ethif)
            git -C "$U/repos/$p" grep -q 'cs_get_be16(.*&' main -- || fail "$p does not call the 2.0 cs_get_be16 at its head"
            continue ;;
        esac
        if git -C "$U/repos/$p" grep -n cs_get_be16 main --; then
            fail "$p mentions cs_get_be16 at its head"
        fi
        while read -r c t; do
            [ "$t" -ge "$brk_time" ] || continue
            if git -C "$U/repos/$p" grep -n cs_get_be16 "$c" --; then
                fail "$p mentions cs_get_be16 at $c, after the break"
            fi
        done < <(git -C "$U/repos/$p" log --format='%H %ct' main)
        echo "$p: no cs_get_be16"
    done
}

check_api_addition() {
    local c good
    c=$(one scenarios.api_addition.commit)
    good=$(one scenarios.api_addition.good)
    git -C "$U/repos/cstruct" show "$c:Makefile" | grep -q '^VERSION = 1\.1\.0$' || fail "no bump to 1.1.0"
    ! git -C "$U/repos/cstruct" diff "$good" "$c" -- include | grep -E '^-[^-]' || fail "the addition removes lines"
    [ -n "$(sget scenarios.api_addition.added)" ] || fail "no added symbols recorded"
    for sym in $(sget scenarios.api_addition.added); do
        git -C "$U/repos/cstruct" diff "$good" "$c" -- include | grep -q "^+.*$sym" || fail "$sym not added"
    done
}

check_regression() {
    local reg last good err
    err=$(one scenarios.regression.error_contains)
    [ "$(sget scenarios.regression.caught_by | xargs)" = tcpip ] || fail "caught_by is not [tcpip]"
    reg=$(one scenarios.regression.commit)
    last=$(one scenarios.regression.last_good)
    good=$(one scenarios.regression.good)
    [ "$(git -C "$U/repos/ipaddr" rev-parse "$reg^")" = "$last" ] || fail "last_good is not the parent"
    [ "$(git -C "$U/repos/ipaddr" rev-list --count "$good..$last")" -ge 4 ] || fail "a short bisect range"
    git -C "$U/repos/ipaddr" merge-base --is-ancestor "$(one scenarios.unbuildable.commit)" "$last" ||
        fail "the unbuildable commit is not in the range"
    git -C "$U/repos/ipaddr" merge-base --is-ancestor "$good" "$(one scenarios.unbuildable.commit)" ||
        fail "the unbuildable commit is not in the range"

    build ipaddr "$reg" ipaddr@reg
    run_tests ipaddr ipaddr@reg || fail "ipaddr's own tests fail at the regression"
    build tcpip main tcpip@reg cstruct@head checkseum@head ethif@head ipaddr@reg
    if run_tests tcpip tcpip@reg cstruct@head checkseum@head ethif@head ipaddr@reg; then
        fail "tcpip's tests pass against the regression"
    fi
    grep -Eq "^tests/test_tcpip\.c:[0-9]+: $err" "$LOGS/test.tcpip@reg.log" ||
        fail "tcpip's failure does not name the assertion"
    grep -m1 'assertion failed' "$LOGS/test.tcpip@reg.log"

    build ipaddr "$last" ipaddr@last-good
    build tcpip main tcpip@last-good cstruct@head checkseum@head ethif@head ipaddr@last-good
    run_tests tcpip tcpip@last-good cstruct@head checkseum@head ethif@head ipaddr@last-good ||
        fail "tcpip's tests fail against the last good commit"
    build ipaddr "$good" ipaddr@good
    build tcpip main tcpip@good cstruct@head checkseum@head ethif@head ipaddr@good
    run_tests tcpip tcpip@good cstruct@head checkseum@head ethif@head ipaddr@good ||
        fail "tcpip's tests fail against the good commit"
    build ipaddr "$(one scenarios.regression.bad)" ipaddr@bad
    build tcpip main tcpip@bad cstruct@head checkseum@head ethif@head ipaddr@bad
    if run_tests tcpip tcpip@bad cstruct@head checkseum@head ethif@head ipaddr@bad; then
        fail "tcpip's tests pass against the recorded bad commit"
    fi
    # unikernel uses a /24: it is not affected
    build unikernel main unikernel@reg cstruct@head checkseum@head ethif@head dns@head ipaddr@reg tcpip@reg
    run_tests unikernel unikernel@reg cstruct@head checkseum@head ethif@head dns@head ipaddr@reg tcpip@reg ||
        fail "unikernel's tests fail against the regression too"
}

check_unbuildable() {
    local c err
    c=$(one scenarios.unbuildable.commit)
    err=$(one scenarios.unbuildable.error_contains)
    if build ipaddr "$c" ipaddr@wip; then
        fail "the WIP commit builds"
    fi
    grep -qF "$err" "$LOGS/build.ipaddr@wip.log" ||
        fail "not the missing semicolon"
    build ipaddr "$c^" ipaddr@wip-parent
    build ipaddr "$(one scenarios.unbuildable.fix)" ipaddr@wip-fix
    [ "$(git -C "$U/repos/ipaddr" rev-parse "$(one scenarios.unbuildable.fix)^")" = "$c" ] ||
        fail "the fix does not follow the WIP commit"
}

check_flaky() {
    local i pass=0 failed=0 dir=$WORK/src/checkseum@head
    [ -e "$dir/tests/test_random" ] || fail "checkseum was not built and tested at its head"
    for i in $(seq 1 40); do
        if (cd "$dir" && dep_env cstruct@head && make -s check) >"$LOGS/flaky.$i.log" 2>&1; then
            pass=$((pass + 1))
        else
            failed=$((failed + 1))
            grep -Eq '^tests/test_random\.c:[0-9]+: assertion failed: checkseum_sum' "$LOGS/flaky.$i.log" ||
                fail "a failure without the assertion line: $(cat "$LOGS/flaky.$i.log")"
        fi
        [ "$pass" -eq 0 ] || [ "$failed" -eq 0 ] || break
    done
    echo "$pass passed, $failed failed in $i runs"
    [ "$pass" -gt 0 ] && [ "$failed" -gt 0 ] || fail "not flaky"
}

fuzz_build() {  # fuzz_build REV LABEL: dns at REV with the standalone fuzz driver and ASan
    local src=$WORK/src/$2
    rm -rf "$src"
    mkdir -p "$src"
    git -C "$U/repos/dns" archive "$1" | tar -x -C "$src"
    (cd "$src" && dep_env cstruct@head && make fuzz CC=gcc FUZZ_CFLAGS="-g -O1 -fsanitize=address") \
        >"$LOGS/fuzz.$2.log" 2>&1 || { tail "$LOGS/fuzz.$2.log"; return 1; }
}

check_fuzz_crash() {
    local hex input=$WORK/crash.bin rc=0 added crash kind func rev
    hex=$(one scenarios.fuzz_crash.crash_input_hex)
    kind=$(one scenarios.fuzz_crash.crash_kind)
    func=$(one scenarios.fuzz_crash.crash_function)
    added=$(one scenarios.fuzz_crash.fuzz_added)
    crash=$(one scenarios.fuzz_crash.commit)
    printf '%b' "$(printf '%s' "$hex" | sed 's/../\\x&/g')" >"$input"
    [ "$(od -An -tx1 "$input" | tr -d ' \n')" = "$hex" ] || fail "could not write the input"
    git -C "$U/repos/dns" merge-base --is-ancestor "$added" "$crash^" || fail "fuzz target added after the crash"
    git -C "$U/repos/dns" ls-tree -r --name-only main | grep -q '^fuzz/crash' && fail "a crash input is in the repository"

    fuzz_build main dns-fuzz@head
    (cd "$WORK/src/dns-fuzz@head" && LD_LIBRARY_PATH=$WORK/prefix/cstruct@head/lib ./fuzz/decode_name fuzz/corpus/*) ||
        fail "the seeds crash at head"
    (cd "$WORK/src/dns-fuzz@head" && LD_LIBRARY_PATH=$WORK/prefix/cstruct@head/lib ./fuzz/decode_name "$input") \
        >"$LOGS/crash.log" 2>&1 || rc=$?
    grep -m1 'ERROR: AddressSanitizer' "$LOGS/crash.log" || true
    [ "$rc" -ne 0 ] || fail "the crashing input does not crash at head"
    grep -q "AddressSanitizer: $kind" "$LOGS/crash.log" || fail "not a $kind"
    grep -q "in $func" "$LOGS/crash.log" || fail "the stack does not name $func"

    for rev in "$added" "$crash^"; do
        fuzz_build "$rev" "dns-fuzz@$rev"
        (cd "$WORK/src/dns-fuzz@$rev" &&
            LD_LIBRARY_PATH=$WORK/prefix/cstruct@head/lib ./fuzz/decode_name "$input" fuzz/corpus/*) ||
            fail "the input crashes at $rev, before the crash was introduced"
    done
    fuzz_build "$crash" "dns-fuzz@crash"
    if (cd "$WORK/src/dns-fuzz@crash" && LD_LIBRARY_PATH=$WORK/prefix/cstruct@head/lib ./fuzz/decode_name "$input"); then
        fail "the input does not crash at the commit that introduced the crash"
    fi
}

# libFuzzer finds the crash by itself, within seconds (only with clang's libFuzzer).
check_libfuzzer_finds_crash() {
    local src=$WORK/src/dns-libfuzzer rc=0
    if ! command -v clang >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
        clang -x c -fsanitize=fuzzer -o "$WORK/probe" - >/dev/null 2>&1; then
        fail "clang with libFuzzer is missing; scripts/setup installs clang and libclang-rt-14-dev"
    fi
    mkdir -p "$src"
    git -C "$U/repos/dns" archive main | tar -x -C "$src"
    (cd "$src" && dep_env cstruct@head &&
        make fuzz CC=clang FUZZ_CFLAGS="-g -O1 -fsanitize=fuzzer,address" &&
        mkdir -p corpus && cp fuzz/corpus/* corpus/ &&
        ./fuzz/decode_name -max_total_time=60 -seed=1 -artifact_prefix=./ corpus) >"$LOGS/libfuzzer.log" 2>&1 || rc=$?
    grep -E 'stat::|Done [0-9]+ runs|ERROR: AddressSanitizer' "$LOGS/libfuzzer.log" | head -n 3
    [ "$rc" -ne 0 ] || fail "libFuzzer found nothing in 60 s"
    grep -q 'AddressSanitizer: stack-overflow' "$LOGS/libfuzzer.log" || fail "libFuzzer stopped for another reason"
}

# ---------------------------------------------------------------------------

START=$(date +%s)
run_check "generate refuses a non-empty directory (exit 2, one line)" check_refuses_nonempty
run_check "generate is deterministic (same files, same commit ids)" check_deterministic
if [ ! -e "$U/scenarios.json" ]; then
    echo "not ok - no universe was generated; the other checks cannot run"
    echo "1..$((CHECKS + 1))"
    exit 1
fi
run_check "ripple check accepts ripple.json" check_ripple_check
run_check "ripple.json: versions of the heads, the dependency graph, not in topological order" check_manifest
run_check "every package builds and passes its tests at its head, in topological order" check_heads
run_check "installs: pkg-config files, sonames, headers, no rpath" check_installs
run_check "CFLAGS/LDFLAGS are honoured and builds do not depend on their directory" check_flags_and_reproducibility
run_check "api_break: cstruct 2.0.0 breaks exactly dns and ethif, with a compile error" check_api_break
run_check "api_break: nothing but cstruct, dns and ethif uses cs_get_be16 at its head or since the break" check_api_break_callers
run_check "api_addition: cstruct 1.1.0 only adds declarations" check_api_addition
run_check "regression: ipaddr's own tests pass, tcpip's fail; before it tcpip passes" check_regression
run_check "unbuildable: the WIP commit fails to build, its neighbours build" check_unbuildable
run_check "flaky: checkseum's test fails and passes within 40 runs" check_flaky
run_check "fuzz_crash: the recorded input crashes dns at head (ASan) and not before" check_fuzz_crash
run_check "fuzz_crash: libFuzzer finds the crash on its own" check_libfuzzer_finds_crash
echo "1..$CHECKS"
echo "# $FAILED of $CHECKS checks failed, $(($(date +%s) - START)) s"
[ "$FAILED" -eq 0 ]
