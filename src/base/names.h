/*-------------------------------------------------------------------------
 *
 * names.h
 *	  The names of the extension's relations and indexes that the C code
 *	  opens directly (without SQL), in one list.
 *
  * Every index here is named explicitly in sql/src/ (CONSTRAINT ... PRIMARY KEY,
 * CREATE INDEX ...), never left to PostgreSQL's implicit naming.  A C
 * module finds them with PersonalizeRelid(), and their columns with
 * PersonalizeAttnum(), so that a renamed or missing object is a clear error
 * rather than a wrong read.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/names.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_NAMES_H
#define PERSONALIZE_NAMES_H

/* consent (sql/src/consent.sql, sql/src/consent-purposes.sql): read by has_consent() */
#define REL_CONSENT				"consent"
#define IDX_CONSENT_PKEY		"consent_pkey"	/* (subject, purpose_id) */
#define REL_PURPOSE				"purpose"
#define IDX_PURPOSE_PKEY		"purpose_pkey"	/* (purpose_id) */
#define IDX_PURPOSE_NAME_KEY	"purpose_name_key"	/* (name) */

/*
 * their copies on a Citus cluster (sql/src/base-citus.sql, 0.3.0): reference
 * tables with the same keys, which has_consent() reads on a worker node
 */
#define REL_CONSENT_REPLICA		"consent_replica"
#define IDX_CONSENT_REPLICA_PKEY "consent_replica_pkey"	/* (subject, purpose_id) */
#define REL_PURPOSE_REPLICA		"purpose_replica"
#define IDX_PURPOSE_REPLICA_PKEY "purpose_replica_pkey"	/* (purpose_id) */
#define IDX_PURPOSE_REPLICA_NAME_KEY "purpose_replica_name_key"	/* (name) */

/* intent matching (sql/src/match.sql, sql/src/match-intent.sql): read by match() */
#define REL_MATCH_VERSION		"match_catalog_version"
#define IDX_MATCH_VERSION_PKEY	"match_catalog_version_pkey"	/* (only_row) */
#define REL_MATCH_CHANGE		"match_catalog_change"	/* 0.3.0 */
#define IDX_MATCH_CHANGE_VERSION "match_catalog_change_version_idx"	/* (version) */
#define REL_OFFERS				"offers"
#define IDX_OFFERS_PKEY			"offers_pkey"	/* (offer_id) */
#define REL_OFFER_TAGS			"offer_tags"
#define IDX_OFFER_TAGS_PKEY		"offer_tags_pkey"	/* (offer_id, tag) */
#define REL_TAG					"tag"
#define REL_DATA_CATEGORY		"data_category"
#define REL_INTENT				"intent"
#define IDX_INTENT_PKEY			"intent_pkey"	/* (subject, tag) */
#define REL_SIGNAL				"signal"
#define IDX_SIGNAL_SUBJECT		"signal_subject_idx"	/* (subject, tag) */

/* their copies on a Citus cluster (sql/src/base-citus.sql, 0.3.0), read on a worker */
#define REL_MATCH_VERSION_REPLICA	"match_catalog_version_replica"
#define IDX_MATCH_VERSION_REPLICA_PKEY "match_catalog_version_replica_pkey"	/* (only_row) */
#define REL_MATCH_CHANGE_REPLICA	"match_catalog_change_replica"
#define IDX_MATCH_CHANGE_REPLICA_VERSION "match_catalog_change_replica_version_idx"	/* (version) */
#define REL_OFFERS_REPLICA		"offers_replica"
#define IDX_OFFERS_REPLICA_PKEY	"offers_replica_pkey"	/* (offer_id) */
#define REL_OFFER_TAGS_REPLICA	"offer_tags_replica"
#define IDX_OFFER_TAGS_REPLICA_PKEY "offer_tags_replica_pkey"	/* (offer_id, tag) */
#define REL_TAG_REPLICA			"tag_replica"
#define REL_DATA_CATEGORY_REPLICA "data_category_replica"
#define REL_INTENT_REPLICA		"intent_replica"
#define IDX_INTENT_REPLICA_PKEY	"intent_replica_pkey"	/* (subject, tag) */
#define REL_SIGNAL_REPLICA		"signal_replica"
#define IDX_SIGNAL_REPLICA_SUBJECT "signal_replica_subject_idx"	/* (subject, tag) */
/* made by distribute(colocate_with => ...), outside the extension, and what feeds them */
#define REL_INTENT_BY_SUBJECT	"intent_by_subject"
#define IDX_INTENT_BY_SUBJECT_PKEY "intent_by_subject_pkey"	/* (subject, tag, subject_key) */
#define REL_SIGNAL_BY_SUBJECT	"signal_by_subject"
#define IDX_SIGNAL_BY_SUBJECT_SUBJECT "signal_by_subject_subject_idx"	/* (subject, tag) */
#define REL_COPY_OUTBOX			"copy_outbox"	/* changes on their way to them */

/* access grants (sql/src/privilege.sql, 0.2.0): read by has_access() */
#define REL_ACCESS_GRANT		"access_grant"
#define IDX_ACCESS_GRANT_WINDOW	"access_grant_window_idx"	/* (relid, valid_until) */
/* its copy on a Citus cluster (sql/src/base-citus.sql, 0.3.0): tables and roles by name */
#define REL_ACCESS_GRANT_REPLICA	"access_grant_replica"
#define IDX_ACCESS_GRANT_REPLICA_WINDOW "access_grant_replica_window_idx"	/* (relid text, valid_until) */

/*
 * hash-chained ledgers (sql/src/ledgers.sql, 0.2.0): each has a unique index
 * on its chain position, which the chain trigger and verify_ledgers() find
 * on the table (ledgers.c, chain_index), whatever it is named
 */
#define REL_CONSENT_EVENT		"consent_event"
#define REL_ACCESS_EVENT		"access_event"
#define REL_CUSTODY_EVENT		"custody_event"
#define REL_PURGE_EVENT			"purge_event"
/* the purge log (sql/src/retention.sql): each node's own */
#define REL_PURGE_RUN			"purge_run"

#endif							/* PERSONALIZE_NAMES_H */
