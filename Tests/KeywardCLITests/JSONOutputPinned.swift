// The pinned output of JSONOutputPinTests: what the build before issue 13 printed, normalised
// as that suite's documentation says. Regenerate only on purpose (fields are only ever added):
// KEYWARD_PIN_DUMP=/tmp/pin.txt swift test --filter JSONOutputPinTests, then review the diff.

extension JSONOutputPinTests {
    static let pinned = #"""
== sync --dry-run
exit 0
{
  "dryRun" : true,
  "entities" : [
    {
      "changes" : [
        "secret",
        "token"
      ],
      "id" : "FIU-ALPHA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "warnings" : [

      ]
    },
    {
      "changes" : [
        "secret",
        "token"
      ],
      "id" : "FIU-BETA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "warnings" : [

      ]
    },
    {
      "changes" : [
        "secret",
        "token"
      ],
      "id" : "FIU-GAMMA",
      "outcome" : "ok",
      "secretFingerprint" : "<fp>",
      "warnings" : [

      ]
    }
  ],
  "plan" : [
    {
      "action" : "store new version",
      "detail" : "the vault holds no secret yet",
      "newFingerprint" : "<fp>",
      "reason" : "the vault holds no secret yet",
      "target" : "entities/FIU-ALPHA/secret"
    },
    {
      "action" : "mint token",
      "detail" : "no token held",
      "reason" : "no token held",
      "target" : "entities/FIU-ALPHA/token"
    },
    {
      "action" : "store new version",
      "detail" : "the vault holds no secret yet",
      "newFingerprint" : "<fp>",
      "reason" : "the vault holds no secret yet",
      "target" : "entities/FIU-BETA/secret"
    },
    {
      "action" : "mint token",
      "detail" : "no token held",
      "reason" : "no token held",
      "target" : "entities/FIU-BETA/token"
    },
    {
      "action" : "store new version",
      "detail" : "the vault holds no secret yet",
      "newFingerprint" : "<fp>",
      "reason" : "the vault holds no secret yet",
      "target" : "entities/FIU-GAMMA/secret"
    },
    {
      "action" : "mint token",
      "detail" : "no token held",
      "reason" : "no token held",
      "target" : "entities/FIU-GAMMA/token"
    },
    {
      "action" : "write sink",
      "detail" : "<dir>/deploy/alpha.json: the plan changes FIU-ALPHA",
      "reason" : "<dir>/deploy/alpha.json: the plan changes FIU-ALPHA",
      "target" : "alpha-json"
    },
    {
      "action" : "write sink",
      "detail" : "<dir>/deploy/both.json: the plan changes FIU-ALPHA, FIU-BETA",
      "reason" : "<dir>/deploy/both.json: the plan changes FIU-ALPHA, FIU-BETA",
      "target" : "both-json"
    }
  ],
  "sinks" : [
    {
      "name" : "alpha-json",
      "outcome" : "skipped",
      "path" : "<dir>/deploy/alpha.json"
    },
    {
      "name" : "both-json",
      "outcome" : "skipped",
      "path" : "<dir>/deploy/both.json"
    }
  ],
  "version" : 1
}

== sync
exit 0
{
  "dryRun" : false,
  "entities" : [
    {
      "changes" : [
        "secret",
        "token"
      ],
      "id" : "FIU-ALPHA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    },
    {
      "changes" : [
        "secret",
        "token"
      ],
      "id" : "FIU-BETA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    },
    {
      "changes" : [
        "secret",
        "token"
      ],
      "id" : "FIU-GAMMA",
      "outcome" : "ok",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    }
  ],
  "sinks" : [
    {
      "name" : "alpha-json",
      "outcome" : "written",
      "path" : "<dir>/deploy/alpha.json"
    },
    {
      "name" : "both-json",
      "outcome" : "written",
      "path" : "<dir>/deploy/both.json"
    }
  ],
  "version" : 1
}

== sync again
exit 0
{
  "dryRun" : false,
  "entities" : [
    {
      "changes" : [

      ],
      "id" : "FIU-ALPHA",
      "outcome" : "unchanged",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    },
    {
      "changes" : [

      ],
      "id" : "FIU-BETA",
      "outcome" : "unchanged",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    },
    {
      "changes" : [

      ],
      "id" : "FIU-GAMMA",
      "outcome" : "unchanged",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    }
  ],
  "sinks" : [
    {
      "name" : "alpha-json",
      "outcome" : "unchanged",
      "path" : "<dir>/deploy/alpha.json"
    },
    {
      "name" : "both-json",
      "outcome" : "unchanged",
      "path" : "<dir>/deploy/both.json"
    }
  ],
  "version" : 1
}

== rotate --dry-run
exit 0
{
  "dryRun" : true,
  "entities" : [
    {
      "changes" : [

      ],
      "id" : "FIU-ALPHA",
      "outcome" : "unchanged",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [

      ]
    },
    {
      "changes" : [

      ],
      "id" : "FIU-BETA",
      "outcome" : "unchanged",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [

      ]
    },
    {
      "changes" : [

      ],
      "id" : "FIU-GAMMA",
      "outcome" : "unchanged",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [

      ]
    }
  ],
  "plan" : [
    {
      "action" : "keep",
      "detail" : "not due: the secret expires <time>; due from <time> (window 15d)",
      "oldFingerprint" : "<fp>",
      "reason" : "not due: the secret expires <time>; due from <time> (window 15d)",
      "target" : "entities/FIU-ALPHA/secret"
    },
    {
      "action" : "keep",
      "detail" : "not due: the secret expires <time>; due from <time> (window 15d)",
      "oldFingerprint" : "<fp>",
      "reason" : "not due: the secret expires <time>; due from <time> (window 15d)",
      "target" : "entities/FIU-BETA/secret"
    },
    {
      "action" : "keep",
      "detail" : "not due: the secret has no expiry: rotated only with --force",
      "oldFingerprint" : "<fp>",
      "reason" : "not due: the secret has no expiry: rotated only with --force",
      "target" : "entities/FIU-GAMMA/secret"
    }
  ],
  "sinks" : [

  ],
  "version" : 1
}

== rotate --force --dry-run
exit 0
{
  "dryRun" : true,
  "entities" : [
    {
      "changes" : [
        "secret"
      ],
      "id" : "FIU-ALPHA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [

      ]
    },
    {
      "changes" : [
        "secret"
      ],
      "id" : "FIU-BETA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [

      ]
    }
  ],
  "plan" : [
    {
      "action" : "reset",
      "detail" : "due: --force",
      "oldFingerprint" : "<fp>",
      "reason" : "due: --force",
      "target" : "entities/FIU-ALPHA/secret"
    },
    {
      "action" : "reset",
      "detail" : "due: --force",
      "oldFingerprint" : "<fp>",
      "reason" : "due: --force",
      "target" : "entities/FIU-BETA/secret"
    },
    {
      "action" : "write sink",
      "detail" : "<dir>/deploy/alpha.json: the plan resets FIU-ALPHA",
      "reason" : "<dir>/deploy/alpha.json: the plan resets FIU-ALPHA",
      "target" : "alpha-json"
    },
    {
      "action" : "write sink",
      "detail" : "<dir>/deploy/both.json: the plan resets FIU-ALPHA, FIU-BETA",
      "reason" : "<dir>/deploy/both.json: the plan resets FIU-ALPHA, FIU-BETA",
      "target" : "both-json"
    }
  ],
  "sinks" : [

  ],
  "version" : 1
}

== rotate --force
exit 0
{
  "dryRun" : false,
  "entities" : [
    {
      "changes" : [
        "secret",
        "token"
      ],
      "id" : "FIU-ALPHA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 2,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    }
  ],
  "sinks" : [
    {
      "name" : "alpha-json",
      "outcome" : "written",
      "path" : "<dir>/deploy/alpha.json"
    },
    {
      "name" : "both-json",
      "outcome" : "written",
      "path" : "<dir>/deploy/both.json"
    }
  ],
  "version" : 1
}

== rotate not due
exit 0
{
  "dryRun" : false,
  "entities" : [
    {
      "changes" : [

      ],
      "id" : "FIU-ALPHA",
      "outcome" : "unchanged",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 2,
      "warnings" : [

      ]
    },
    {
      "changes" : [

      ],
      "id" : "FIU-BETA",
      "outcome" : "unchanged",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [

      ]
    }
  ],
  "sinks" : [

  ],
  "version" : 1
}

== rotate skipped
exit 0
{
  "dryRun" : false,
  "entities" : [
    {
      "changes" : [

      ],
      "id" : "FIU-BETA",
      "outcome" : "skipped",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [
        "another job holds the rotation lock (held by another job); skipped"
      ]
    }
  ],
  "sinks" : [

  ],
  "version" : 1
}

== status open
exit 0
{
  "entities" : [
    {
      "id" : "FIU-ALPHA",
      "lastRotation" : "<time>",
      "lastSync" : "<time>",
      "openJournal" : "rotation 2 sent since <time>: the next sync, rotate, token, export or exec finishes it (if the service still shows the previous secret, not before <time>)",
      "secret" : {
        "expiresAt" : "<time>",
        "expiresInSeconds" : "<seconds>",
        "fingerprint" : "<fp>",
        "label" : "current",
        "rotationDueAt" : "<time>",
        "version" : 2
      },
      "token" : {
        "expiresAt" : "<time>"
      },
      "warnings" : [
        "rotation 2 sent since <time>: the next sync, rotate, token, export or exec finishes it (if the service still shows the previous secret, not before <time>)"
      ]
    },
    {
      "id" : "FIU-BETA",
      "lastRotation" : null,
      "lastSync" : "<time>",
      "openJournal" : null,
      "secret" : {
        "expiresAt" : "<time>",
        "expiresInSeconds" : "<seconds>",
        "fingerprint" : "<fp>",
        "label" : "current",
        "rotationDueAt" : "<time>",
        "version" : 1
      },
      "token" : {
        "expiresAt" : "<time>"
      },
      "warnings" : [

      ]
    },
    {
      "id" : "FIU-GAMMA",
      "lastRotation" : null,
      "lastSync" : "<time>",
      "openJournal" : null,
      "secret" : {
        "expiresAt" : null,
        "expiresInSeconds" : null,
        "fingerprint" : "<fp>",
        "label" : "current",
        "rotationDueAt" : null,
        "version" : 1
      },
      "token" : {
        "expiresAt" : "<time>"
      },
      "warnings" : [

      ]
    }
  ],
  "generatedAt" : "<time>",
  "version" : 1
}

== rotate recovered
exit 0
{
  "dryRun" : false,
  "entities" : [
    {
      "changes" : [
        "recovered"
      ],
      "id" : "FIU-ALPHA",
      "outcome" : "ok",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 3,
      "tokenExpiresAt" : "<time>",
      "warnings" : [

      ]
    }
  ],
  "sinks" : [
    {
      "name" : "alpha-json",
      "outcome" : "unchanged",
      "path" : "<dir>/deploy/alpha.json"
    },
    {
      "name" : "both-json",
      "outcome" : "unchanged",
      "path" : "<dir>/deploy/both.json"
    }
  ],
  "version" : 1
}

== rotate failed
exit 1
{
  "dryRun" : false,
  "entities" : [
    {
      "changes" : [

      ],
      "error" : {
        "code" : "operationFailed",
        "message" : "token service entity/secret/reset: rate limited (HTTP 429); retry after 1s [txnId <txn>]",
        "retryAfterSeconds" : 1
      },
      "id" : "FIU-BETA",
      "outcome" : "failed",
      "secretExpiresAt" : "<time>",
      "secretFingerprint" : "<fp>",
      "secretVersion" : 1,
      "warnings" : [

      ]
    }
  ],
  "sinks" : [

  ],
  "version" : 1
}

== status
exit 0
{
  "entities" : [
    {
      "id" : "FIU-ALPHA",
      "lastRotation" : "<time>",
      "lastSync" : "<time>",
      "openJournal" : null,
      "secret" : {
        "expiresAt" : "<time>",
        "expiresInSeconds" : "<seconds>",
        "fingerprint" : "<fp>",
        "label" : "current",
        "rotationDueAt" : "<time>",
        "version" : 3
      },
      "token" : {
        "expiresAt" : "<time>"
      },
      "warnings" : [

      ]
    },
    {
      "id" : "FIU-BETA",
      "lastRotation" : null,
      "lastSync" : "<time>",
      "openJournal" : null,
      "secret" : {
        "expiresAt" : "<time>",
        "expiresInSeconds" : "<seconds>",
        "fingerprint" : "<fp>",
        "label" : "current",
        "rotationDueAt" : "<time>",
        "version" : 1
      },
      "token" : {
        "expiresAt" : "<time>"
      },
      "warnings" : [

      ]
    },
    {
      "id" : "FIU-GAMMA",
      "lastRotation" : null,
      "lastSync" : "<time>",
      "openJournal" : null,
      "secret" : {
        "expiresAt" : null,
        "expiresInSeconds" : null,
        "fingerprint" : "<fp>",
        "label" : "current",
        "rotationDueAt" : null,
        "version" : 1
      },
      "token" : {
        "expiresAt" : "<time>"
      },
      "warnings" : [

      ]
    }
  ],
  "generatedAt" : "<time>",
  "version" : 1
}

== audit
exit 0
{
  "entries" : [
    {
      "entities" : [

      ],
      "operation" : "login sim",
      "outcome" : "ok",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "sync --dry-run",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "sync --dry-run",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-GAMMA"
      ],
      "entity" : "FIU-GAMMA",
      "operation" : "sync --dry-run",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "sync",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "sync",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-GAMMA"
      ],
      "entity" : "FIU-GAMMA",
      "operation" : "sync",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink alpha-json",
      "outcome" : "written",
      "time" : "<time>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink both-json",
      "outcome" : "written",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "sync",
      "outcome" : "unchanged",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "sync",
      "outcome" : "unchanged",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-GAMMA"
      ],
      "entity" : "FIU-GAMMA",
      "operation" : "sync",
      "outcome" : "unchanged",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink alpha-json",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink both-json",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "rotate --dry-run",
      "outcome" : "ok",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "rotate --dry-run",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "rotate --dry-run",
      "outcome" : "ok",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "rotate --dry-run",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-GAMMA"
      ],
      "entity" : "FIU-GAMMA",
      "operation" : "rotate --dry-run",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink alpha-json",
      "outcome" : "written",
      "time" : "<time>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink both-json",
      "outcome" : "written",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "rotate",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "rotate",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "rotate",
      "outcome" : "skipped",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "rotate",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink alpha-json",
      "outcome" : "written",
      "time" : "<time>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink both-json",
      "outcome" : "written",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "rotate recover",
      "outcome" : "ok",
      "time" : "<time>",
      "txnId" : "<txn>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink alpha-json",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [

      ],
      "operation" : "write sink both-json",
      "outcome" : "unchanged",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-ALPHA"
      ],
      "entity" : "FIU-ALPHA",
      "operation" : "rotate",
      "outcome" : "ok",
      "time" : "<time>"
    },
    {
      "entities" : [
        "FIU-BETA"
      ],
      "entity" : "FIU-BETA",
      "operation" : "rotate",
      "outcome" : "failed",
      "time" : "<time>"
    }
  ],
  "version" : 1
}

"""#
}
