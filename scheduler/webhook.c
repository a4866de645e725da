/*
 * webhook.c — forge deliveries into runs (webhook.h).
 */
#include "webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

int webhook_forge_of(const char *name, size_t len)
{
	for (int k = 0; k < CONFIG_N_FORGES; k++) {
		const char *n = config_forge_name((enum config_forge_kind)k);
		if (strlen(n) == len && memcmp(n, name, len) == 0)
			return k;
	}
	return -1;
}

static void hex_of(const unsigned char *raw, size_t n, char *hex)
{
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
}

/* Constant time whatever the lengths: both sides are hashed first. */
static int same_secret(const char *a, const char *b)
{
	unsigned char da[32], db[32];
	unsigned int n = 32;
	EVP_Digest(a, strlen(a), da, &n, EVP_sha256(), NULL);
	EVP_Digest(b, strlen(b), db, &n, EVP_sha256(), NULL);
	return CRYPTO_memcmp(da, db, 32) == 0;
}

static int verify(enum config_forge_kind forge, const char *secret, webhook_header_fn header, void *ctx,
		  const char *body, size_t len, struct rp_error *err)
{
	const char *name = config_forge_name(forge);
	if (forge == CONFIG_GITLAB) {
		const char *token = header(ctx, "X-Gitlab-Token");
		if (!token)
			return rp_error_set(err, RP_EAUTH, "gitlab delivery without X-Gitlab-Token");
		if (!same_secret(token, secret))
			return rp_error_set(err, RP_EAUTH, "gitlab delivery with a wrong X-Gitlab-Token");
		return 0;
	}
	const char *sig = header(ctx, forge == CONFIG_GITHUB ? "X-Hub-Signature-256" : "X-Gitea-Signature");
	if (!sig)
		return rp_error_set(err, RP_EAUTH, "%s delivery without its signature header", name);
	if (forge == CONFIG_GITHUB) {
		if (strncmp(sig, "sha256=", 7) != 0)
			return rp_error_set(err, RP_EAUTH, "github delivery: X-Hub-Signature-256 must start with sha256=");
		sig += 7;
	}
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char expected[2 * EVP_MAX_MD_SIZE + 1];
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &mac_len))
		return rp_error_set(err, RP_EIO, "cannot compute HMAC-SHA256");
	hex_of(mac, mac_len, expected);
	/* Hex digits may come in either case; compared in lowercase, in constant time. */
	char given[2 * EVP_MAX_MD_SIZE + 1] = "";
	size_t glen = strlen(sig);
	if (glen != 2 * (size_t)mac_len)
		return rp_error_set(err, RP_EAUTH, "%s delivery with a malformed signature", name);
	for (size_t i = 0; i < glen; i++)
		given[i] = (char)((sig[i] >= 'A' && sig[i] <= 'F') ? sig[i] + 32 : sig[i]);
	if (CRYPTO_memcmp(given, expected, glen) != 0)
		return rp_error_set(err, RP_EAUTH, "%s delivery with a wrong signature", name);
	return 0;
}

/* A string at a path of object members ("pull_request", "head", "sha", NULL). */
static const char *str_at(json_t *doc, ...)
{
	va_list ap;
	const char *key;
	va_start(ap, doc);
	while (doc && (key = va_arg(ap, const char *)))
		doc = json_object_get(doc, key);
	va_end(ap);
	return json_string_value(doc);
}

static json_int_t int_at(json_t *doc, ...)
{
	va_list ap;
	const char *key;
	va_start(ap, doc);
	while (doc && (key = va_arg(ap, const char *)))
		doc = json_object_get(doc, key);
	va_end(ap);
	return json_is_integer(doc) ? json_integer_value(doc) : -1;
}

/* What a delivery asks for, in the same terms for the three forges. */
struct event {
	enum { EV_NONE, EV_PR_RUN, EV_PR_CLOSE, EV_PUSH } kind;
	const char *repo_url, *full_name, *sha, *title, *branch;
	json_int_t number;
	int fork;
	const char *ignored; /* why, for EV_NONE */
};

static void read_event(enum config_forge_kind forge, const char *type, json_t *doc, struct event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->ignored = "not an event ripple acts on";
	if (!type)
		return;
	if (forge == CONFIG_GITLAB) {
		if (strcmp(type, "Merge Request Hook") == 0) {
			const char *action = str_at(doc, "object_attributes", "action", NULL);
			ev->repo_url = str_at(doc, "project", "git_http_url", NULL);
			ev->full_name = str_at(doc, "project", "path_with_namespace", NULL);
			ev->sha = str_at(doc, "object_attributes", "last_commit", "id", NULL);
			ev->title = str_at(doc, "object_attributes", "title", NULL);
			ev->number = int_at(doc, "object_attributes", "iid", NULL);
			ev->fork = int_at(doc, "object_attributes", "source_project_id", NULL) !=
				   int_at(doc, "object_attributes", "target_project_id", NULL);
			if (!action)
				return;
			/* An update without oldrev changed the title or labels, not the commits. */
			if (strcmp(action, "open") == 0 || strcmp(action, "reopen") == 0 ||
			    (strcmp(action, "update") == 0 && str_at(doc, "object_attributes", "oldrev", NULL)))
				ev->kind = EV_PR_RUN;
			else if (strcmp(action, "close") == 0 || strcmp(action, "merge") == 0)
				ev->kind = EV_PR_CLOSE;
			else
				ev->ignored = "a merge request action without new commits";
		} else if (strcmp(type, "Push Hook") == 0) {
			ev->kind = EV_PUSH;
			ev->repo_url = str_at(doc, "project", "git_http_url", NULL);
			ev->full_name = str_at(doc, "project", "path_with_namespace", NULL);
			ev->sha = str_at(doc, "after", NULL);
			ev->branch = str_at(doc, "ref", NULL);
		}
		return;
	}
	/* GitHub and Gitea share the shape of these payloads. */
	if (strcmp(type, "pull_request") == 0) {
		const char *action = str_at(doc, "action", NULL);
		ev->repo_url = str_at(doc, "repository", "clone_url", NULL);
		ev->full_name = str_at(doc, "repository", "full_name", NULL);
		ev->sha = str_at(doc, "pull_request", "head", "sha", NULL);
		ev->title = str_at(doc, "pull_request", "title", NULL);
		ev->number = int_at(doc, "pull_request", "number", NULL);
		if (ev->number < 0)
			ev->number = int_at(doc, "number", NULL);
		const char *head_repo = str_at(doc, "pull_request", "head", "repo", "full_name", NULL);
		const char *base_repo = str_at(doc, "pull_request", "base", "repo", "full_name", NULL);
		ev->fork = !head_repo || !base_repo || strcmp(head_repo, base_repo) != 0;
		if (!action)
			return;
		if (strcmp(action, "opened") == 0 || strcmp(action, "reopened") == 0 ||
		    strcmp(action, "synchronize") == 0 || strcmp(action, "synchronized") == 0)
			ev->kind = EV_PR_RUN;
		else if (strcmp(action, "closed") == 0)
			ev->kind = EV_PR_CLOSE;
		else
			ev->ignored = "a pull request action without new commits";
	} else if (strcmp(type, "push") == 0) {
		ev->kind = EV_PUSH;
		ev->repo_url = str_at(doc, "repository", "clone_url", NULL);
		ev->full_name = str_at(doc, "repository", "full_name", NULL);
		ev->sha = str_at(doc, "after", NULL);
		ev->branch = str_at(doc, "ref", NULL);
	}
}

static int ignore(json_t **out, const char *why)
{
	*out = json_pack("{s:s}", "ignored", why);
	return 0;
}

static int valid_sha(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n != 40 && n != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

int webhook_handle(struct farm *f, const struct serve_config *cfg, enum config_forge_kind forge,
		   webhook_header_fn header, void *ctx, const char *body, size_t len, json_t **out,
		   struct rp_error *err)
{
	const char *forge_name = config_forge_name(forge);
	*out = NULL;
	if (!cfg || !cfg->forges[forge].enabled || !cfg->forges[forge].secret)
		return rp_error_set(err, RP_EAUTH, "webhooks from %s are not configured (forges.%s in the config file)",
				    forge_name, forge_name);
	int rc = verify(forge, cfg->forges[forge].secret, header, ctx, body, len, err);
	if (rc < 0)
		return rc;
	const char *type = header(ctx, forge == CONFIG_GITHUB   ? "X-GitHub-Event"
				       : forge == CONFIG_GITLAB ? "X-Gitlab-Event"
								: "X-Gitea-Event");
	const char *delivery = header(ctx, forge == CONFIG_GITHUB   ? "X-GitHub-Delivery"
					   : forge == CONFIG_GITLAB ? "X-Gitlab-Event-UUID"
								    : "X-Gitea-Delivery");
	char body_id[65];
	if (!delivery || !*delivery || strlen(delivery) > 100) {
		/* No usable delivery id: the body's digest identifies a redelivery as well. */
		unsigned char d[32];
		unsigned int n = 32;
		EVP_Digest(body, len, d, &n, EVP_sha256(), NULL);
		hex_of(d, 32, body_id);
		delivery = body_id;
	}
	json_error_t jerr;
	json_t *doc = json_loadb(body, len, 0, &jerr);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return rp_error_set(err, RP_EINVAL, "%s delivery: malformed JSON at line %d column %d: %s", forge_name,
				    jerr.line, jerr.column, jerr.text);
	}
	struct event ev;
	read_event(forge, type, doc, &ev);
	char ref[600], request_id[160], title[700];
	const char *names[64], *branches[64];
	size_t n = 0;
	json_t *req = NULL;
	if (ev.kind == EV_NONE) {
		rc = ignore(out, ev.ignored);
		goto out;
	}
	if (!ev.repo_url || !ev.full_name || strlen(ev.full_name) > 300) {
		rc = rp_error_set(err, RP_EINVAL, "%s delivery: no repository URL or name where the forge puts them",
				  forge_name);
		goto out;
	}
	if ((rc = farm_repo_packages(f, ev.repo_url, names, branches, 64, &n, err)) < 0) {
		rc = rp_error_set(err, RP_EINVAL, "%s delivery: repository URL: %s", forge_name, err->msg);
		goto out;
	}
	if (n == 0) {
		rc = ignore(out, "the repository is not a package of this universe");
		goto out;
	}
	if (ev.kind == EV_PR_CLOSE || ev.kind == EV_PR_RUN) {
		if (ev.number < 0) {
			rc = rp_error_set(err, RP_EINVAL, "%s delivery: no pull request number", forge_name);
			goto out;
		}
		snprintf(ref, sizeof(ref), "%s:%s#%lld", forge_name, ev.full_name, (long long)ev.number);
	}
	if (ev.kind == EV_PR_CLOSE) {
		size_t cancelled = 0;
		if ((rc = farm_cancel_ref(f, ref, &cancelled, err)) == 0)
			*out = json_pack("{s:I}", "cancelled", (json_int_t)cancelled);
		goto out;
	}
	if (!valid_sha(ev.sha)) {
		rc = ev.kind == EV_PUSH && ev.sha && strspn(ev.sha, "0") == strlen(ev.sha)
			     ? ignore(out, "a deleted branch")
			     : rp_error_set(err, RP_EINVAL, "%s delivery: the head commit is not a commit id", forge_name);
		goto out;
	}
	json_t *changes = json_array(), *pins = NULL;
	if (ev.kind == EV_PUSH) {
		/* Only a push to the branch a package is built from is news. */
		const char *branch = ev.branch && strncmp(ev.branch, "refs/heads/", 11) == 0 ? ev.branch + 11 : NULL;
		for (size_t i = 0; branch && i < n; i++)
			if (strcmp(branches[i], branch) == 0)
				json_array_append_new(changes, json_pack("{s:s, s:s}", "package", names[i], "rev", ev.sha));
		if (json_array_size(changes) == 0) {
			json_decref(changes);
			rc = ignore(out, "a push to a branch no package is built from");
			goto out;
		}
		snprintf(ref, sizeof(ref), "%s:%s@%s", forge_name, ev.full_name, branch);
		snprintf(title, sizeof(title), "push to %.300s", ref);
	} else {
		for (size_t i = 0; i < n; i++)
			json_array_append_new(changes, json_pack("{s:s, s:s}", "package", names[i], "rev", ev.sha));
		snprintf(title, sizeof(title), "#%lld %.500s", (long long)ev.number, ev.title ? ev.title : "");
	}
	if ((rc = farm_nightly_pins(f, &pins, err)) < 0) {
		json_decref(changes);
		json_decref(pins);
		goto out;
	}
	/* The changed packages are at their new commit, not at the nightly's. */
	size_t i;
	json_t *pin;
	for (i = json_array_size(pins); i-- > 0;) {
		pin = json_array_get(pins, i);
		for (size_t k = 0; k < n; k++)
			if (strcmp(json_string_value(json_object_get(pin, "package")), names[k]) == 0) {
				json_array_remove(pins, i);
				break;
			}
	}
	snprintf(request_id, sizeof(request_id), "hook:%s:%.100s", forge_name, delivery);
	req = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s}", "kind", ev.kind == EV_PUSH ? "manual" : "pr", "title",
			title, "change_ref", ref, "changes", changes, "pins", pins, "request_id", request_id);
	if (req && ev.fork) /* untrusted code: never on the process backend */
		json_object_set_new(req, "targets", farm_untrusted_targets(f));
	if (!req) {
		rc = rp_error_set(err, RP_EINVAL, "%s delivery: a title or name that is not UTF-8", forge_name);
		goto out;
	}
	int64_t run = 0;
	size_t njobs = 0;
	int created = 0;
	if ((rc = farm_submit(f, req, &run, &njobs, &created, err)) == 0)
		*out = json_pack("{s:I, s:I, s:b}", "run", (json_int_t)run, "jobs", (json_int_t)njobs, "created", created);
out:
	json_decref(req);
	json_decref(doc);
	return rc;
}
