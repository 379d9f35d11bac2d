/*-------------------------------------------------------------------------
 *
 * views.h
 *	  Consent-checked views: create_consent_view() shows analysts only the
 *	  rows of subjects who may be processed for a purpose and only the
 *	  columns the purpose needs (views.c).
 *
 * Nothing here is called from other folders: the folder's functions are
 * reached from SQL only.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/views/views.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_VIEWS_H
#define PERSONALIZE_VIEWS_H

#endif							/* PERSONALIZE_VIEWS_H */
