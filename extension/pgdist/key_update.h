/*
 * key_update.h: the refusal of UPDATEs that would leave a row in the wrong
 * foreign partition (key_update.c).
 */
#ifndef PGDIST_KEY_UPDATE_H
#define PGDIST_KEY_UPDATE_H

extern void pgdist_key_update_init(void);

#endif							/* PGDIST_KEY_UPDATE_H */
