/* rollbot — the Alertmanager webhook (MIT licence, see LICENSE). */
#ifndef ALERTMANAGER_H
#define ALERTMANAGER_H

#include "shell.h"

/* Serves the webhook on app->httpd when ROLLBOT_ALERTMANAGER_TOKEN is set. */
void alertmanager_attach(struct app *app);

#endif
