/* [email]: reading and checking the keys (config/vigia.ini.sample documents
 * them). The password may live in a file so the secret need not sit in the
 * INI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "email_plugin.h"

static char *read_secret(const vg_host *host, const vg_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        host->config_fail(host, cfg, "password_file", "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0004))
        VG_WARN(host, "[email] password_file %s is readable by everyone (chmod 600 it)", path);
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* One line: the password; a trailing newline is not part of it. */
    char *nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    if (!buf[0]) {
        host->config_fail(host, cfg, "password_file", "the file is empty");
        return NULL;
    }
    return strdup(buf);
}

int email_config_read(const vg_host *host, const vg_config *cfg, email_settings *s)
{
    static const char *const tls[] = {"try", "required", "none", NULL};
    const char *password = NULL, *password_file = NULL;
    memset(s, 0, sizeof *s);
    if (!VG_HOST_HAS(host, tz_info)) /* times in mails are in the subscriber's zone */
        return host->fail(host,
                          "this core is too old for the email plugin (needs ABI 1.3: tz_info)");
    int rc = host->config_string(host, cfg, "url", "smtp://127.0.0.1:25", &s->url);
    if (rc == 0)
        rc = host->config_enum(host, cfg, "use_tls", "try", tls, &s->use_tls);
    if (rc == 0)
        rc = host->config_string(host, cfg, "helo", "", &s->helo);
    if (rc == 0)
        rc = host->config_string(host, cfg, "username", "", &s->username);
    if (rc == 0)
        rc = host->config_string(host, cfg, "password", "", &password);
    if (rc == 0)
        rc = host->config_string(host, cfg, "password_file", "", &password_file);
    if (rc == 0)
        rc = host->config_require(host, cfg, "from", &s->from);
    if (rc == 0)
        rc = host->config_string(host, cfg, "from_name", "Vigía", &s->from_name);
    if (rc == 0)
        rc = host->config_string(host, cfg, "envelope_from", "", &s->envelope_from);
    if (rc == 0)
        rc = host->config_string(host, cfg, "ca_file", "", &s->ca_file);
    if (rc == 0)
        rc = host->config_bool(host, cfg, "tls_verify", true, &s->tls_verify);
    if (rc == 0)
        rc = host->config_string(host, cfg, "templates_dir", "", &s->templates_dir);
    if (rc == 0)
        rc = host->config_duration(host, cfg, "connect_timeout", 10000, 100, 300000,
                                   &s->connect_timeout);
    if (rc == 0)
        rc = host->config_duration(host, cfg, "timeout", 60000, 100, 600000, &s->timeout);
    if (rc == 0)
        rc = host->config_duration(host, cfg, "keepalive", 60000, 0, 3600000, &s->keepalive);
    if (rc == 0)
        rc = host->config_int(host, cfg, "threads", 1, 1, 16, &s->threads);
    if (rc == 0)
        rc = host->config_int(host, cfg, "queue", 1000, 1, 100000, &s->queue);
    if (rc == 0)
        rc = host->config_int(host, cfg, "max_items", 50, 1, 1000, &s->max_items);
    if (rc != 0)
        return rc;

    if (strncmp(s->url, "smtp://", 7) != 0 && strncmp(s->url, "smtps://", 8) != 0)
        return host->config_fail(host, cfg, "url", "must start with smtp:// or smtps://");
    if (strchr(s->url + 8, '/') || strpbrk(s->url, " \t\r\n"))
        return host->config_fail(host, cfg, "url",
                                 "host and port only (the EHLO name is the helo key)");
    for (const char *p = s->helo; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-'))
            return host->config_fail(host, cfg, "helo", "a host name ([A-Za-z0-9.-])");
    if (!email_address_ok(s->from))
        return host->config_fail(host, cfg, "from", "an address like vigia@example.org");
    if (*s->envelope_from && !email_address_ok(s->envelope_from))
        return host->config_fail(host, cfg, "envelope_from", "an address like bounces@example.org");
    if (!*s->envelope_from)
        s->envelope_from = s->from;
    if (strpbrk(s->from_name, "\r\n"))
        return host->config_fail(host, cfg, "from_name", "one line");
    if (*password && *password_file)
        return host->config_fail(host, cfg, "password_file",
                                 "set password or password_file, not both");
    if ((*password || *password_file) && !*s->username)
        return host->config_fail(host, cfg, "username", "a password needs a username");
    if (*password_file) {
        if (!(s->password = read_secret(host, cfg, password_file)))
            return -EINVAL;
    } else if (*password && !(s->password = strdup(password))) {
        return host->fail(host, "out of memory");
    }
    return 0;
}

void email_settings_free(email_settings *s)
{
    if (s->password) {
        /* Do not leave the secret in freed memory. */
        volatile char *p = s->password;
        while (*p)
            *p++ = '\0';
        free(s->password);
        s->password = NULL;
    }
}
