#include "buildkey.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

/* Bump when what is hashed changes. */
#define BUILDKEY_TAG "ripple-buildkey-v1"

int buildkey_is_hex(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == BUILDKEY_HEX_LEN;
}

/* One field: its name, the length of its value, the value; no value can run into the next. */
static int put_field(EVP_MD_CTX *md, const char *name, const void *value, size_t len)
{
	char header[128];
	int n = snprintf(header, sizeof(header), "%s:%zu:", name, len);
	return EVP_DigestUpdate(md, header, (size_t)n) && EVP_DigestUpdate(md, value, len);
}

static int put_string(EVP_MD_CTX *md, const char *name, const char *value)
{
	/* An absent optional field and an empty one differ. */
	if (!value)
		return put_field(md, name, "-", 1);
	char tagged[2] = "+";
	return EVP_DigestUpdate(md, tagged, 1) && put_field(md, name, value, strlen(value));
}

static int by_dep_name(const void *a, const void *b)
{
	return strcmp((*(const struct buildkey_dep *const *)a)->name, (*(const struct buildkey_dep *const *)b)->name);
}

int buildkey_compute(const struct buildkey_input *in, char key[BUILDKEY_HEX_LEN + 1], struct rp_error *err)
{
	const struct rp_package *p = in->package;
	EVP_MD_CTX *md = NULL;
	const struct buildkey_dep **sorted = NULL;
	char *target_json = NULL;
	int rc = 0, ok;

	if (!p || !in->target || !in->tree_id || !in->variant)
		return rp_error_set(err, RP_EINVAL, "build key: package, target, tree id and variant are required");
	sorted = malloc((in->n_deps ? in->n_deps : 1) * sizeof(*sorted));
	md = EVP_MD_CTX_new();
	/* Sorted keys and no whitespace: the same configuration always serializes alike. */
	target_json = json_dumps(in->target->options, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!sorted || !md || !target_json) {
		rc = rp_error_set(err, RP_ENOMEM, "build key of %s: out of memory", p->name);
		goto out;
	}
	for (size_t i = 0; i < in->n_deps; i++) {
		if (!in->deps[i].name || !in->deps[i].output_hash || !buildkey_is_hex(in->deps[i].output_hash)) {
			rc = rp_error_set(err, RP_EINVAL, "build key of %s: dependency %zu has no valid output hash", p->name,
					  i + 1);
			goto out;
		}
		sorted[i] = &in->deps[i];
	}
	qsort(sorted, in->n_deps, sizeof(*sorted), by_dep_name);
	for (size_t i = 1; i < in->n_deps; i++) {
		if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
			rc = rp_error_set(err, RP_EINVAL, "build key of %s: dependency %s given twice", p->name,
					  sorted[i]->name);
			goto out;
		}
	}

	char number[32];
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) && put_string(md, "tag", BUILDKEY_TAG) &&
	     put_string(md, "package", p->name) && put_string(md, "tree", in->tree_id) &&
	     put_string(md, "variant", in->variant) && put_string(md, "build", p->build) &&
	     put_string(md, "test", p->test) &&
	     /* An api block makes builds add -g, and names what gets dumped. */
	     put_string(md, "api.library", p->has_api ? p->api_library : NULL) &&
	     put_string(md, "api.headers", p->has_api ? p->api_headers : NULL);
	/*
	 * The guest block is an input only where a guest boots (vm, xen): there it
	 * adds a prepare step to the build and replaces the test. A job on a
	 * process or sandbox target never runs it, so editing it rebuilds nothing there.
	 */
	int guest = p->has_guest && manifest_runner_boots_guest(in->target->runner);
	ok = ok && put_string(md, "guest.prepare", guest ? p->guest_prepare : NULL) &&
	     put_string(md, "guest.test", guest ? p->guest_test : NULL);
	snprintf(number, sizeof(number), "%zu", guest ? p->n_guest_payload : 0);
	ok = ok && put_string(md, "guest.payload", number);
	for (size_t i = 0; ok && guest && i < p->n_guest_payload; i++)
		ok = put_string(md, "guest.pattern", p->guest_payload[i]);
	/* AFL++ builds other binaries; only then is the engine said, so that no other key changes. */
	if (strcmp(in->variant, "fuzz") == 0 && p->fuzz_engine == RP_FUZZ_AFL)
		ok = ok && put_string(md, "fuzz.engine", "afl");
	snprintf(number, sizeof(number), "%d", p->timeout);
	ok = ok && put_string(md, "timeout", number);
	snprintf(number, sizeof(number), "%d", p->output_timeout);
	ok = ok && put_string(md, "output_timeout", number);
	snprintf(number, sizeof(number), "%zu", p->n_env);
	ok = ok && put_string(md, "env", number);
	/* The manifest keeps env sorted by name. */
	for (size_t i = 0; ok && i < p->n_env; i++)
		ok = put_string(md, "env.name", p->env[i].name) && put_string(md, "env.value", p->env[i].value);
	ok = ok && put_string(md, "target", in->target->name) && put_string(md, "target.config", target_json);
	snprintf(number, sizeof(number), "%zu", in->n_deps);
	ok = ok && put_string(md, "deps", number);
	for (size_t i = 0; ok && i < in->n_deps; i++)
		ok = put_string(md, "dep.name", sorted[i]->name) && put_string(md, "dep.output", sorted[i]->output_hash);

	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	if (!ok || !EVP_DigestFinal_ex(md, digest, &digest_len) || digest_len * 2 != BUILDKEY_HEX_LEN) {
		rc = rp_error_set(err, RP_ENOMEM, "build key of %s: SHA-256 failed", p->name);
		goto out;
	}
	for (unsigned int i = 0; i < digest_len; i++)
		snprintf(key + 2 * i, 3, "%02x", digest[i]);
out:
	EVP_MD_CTX_free(md);
	free(sorted);
	free(target_json);
	return rc;
}
