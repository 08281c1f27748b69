/*
 * mailbox: a bounded, mutex-protected FIFO of struct msg between the ws
 * and ctl threads.  Waking the reader is the writer's business (an
 * eventfd for the ctl thread, lws_cancel_service() for the ws thread).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

struct mailbox {
	pthread_mutex_t	 lock;
	struct msg	*head, *tail;	/* {lock} */
	size_t		 n, max;	/* {lock} */
};

struct mailbox *
mailbox_new(size_t max)
{
	struct mailbox *mb;

	if ((mb = calloc(1, sizeof(*mb))) == NULL)
		return NULL;
	pthread_mutex_init(&mb->lock, NULL);
	mb->max = max;
	return mb;
}

void
mailbox_free(struct mailbox *mb)
{
	struct msg *m, *next;

	if (mb == NULL)
		return;
	for (m = mb->head; m != NULL; m = next) {
		next = m->next;
		msg_free(m);
	}
	pthread_mutex_destroy(&mb->lock);
	free(mb);
}

int
mailbox_put(struct mailbox *mb, struct msg *m)
{
	pthread_mutex_lock(&mb->lock);
	if (mb->n == mb->max) {
		pthread_mutex_unlock(&mb->lock);
		msg_free(m);
		return -1;
	}
	m->next = NULL;
	if (mb->tail != NULL)
		mb->tail->next = m;
	else
		mb->head = m;
	mb->tail = m;
	mb->n++;
	pthread_mutex_unlock(&mb->lock);
	return 0;
}

struct msg *
mailbox_take_all(struct mailbox *mb)
{
	struct msg *m;

	pthread_mutex_lock(&mb->lock);
	m = mb->head;
	mb->head = mb->tail = NULL;
	mb->n = 0;
	pthread_mutex_unlock(&mb->lock);
	return m;
}

struct msg *
msg_new(enum msg_type type, uint32_t call_id, const char *session_id)
{
	struct msg *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->type = type;
	m->call_id = call_id;
	if (session_id != NULL)
		memcpy(m->session_id, session_id,
		    strnlen(session_id, SESSION_ID_LEN));
	return m;
}

void
agent_free(struct agent *a)
{
	int i;

	if (a == NULL)
		return;
	for (i = 0; i < a->ntools && i < AGENT_TOOLS_MAX; i++) {
		free(a->tools[i].name);
		free(a->tools[i].url);
		free(a->tools[i].transfer_to);
	}
	free(a->name);
	free(a->model);
	free(a->voice);
	free(a->instructions);
	free(a->greeting);
	free(a->tools_json);
	free(a->call_sid);
	free(a);
}

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	free(m->s1);
	free(m->s2);
	free(m->s3);
	free(m->s4);
	agent_free(m->agent);
	free(m);
}
