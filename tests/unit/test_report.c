/* rollbot — unit tests of commands/report.c (MIT licence, see LICENSE).
 *
 * The golden tests are the report's specification: five incidents written
 * as the audit rows rollbot really writes (commands/incident.c, the shell's
 * command_run, http_request and probe_results rows, the SQL's first two
 * rows), rendered with the real templates and compared byte for byte with
 * tests/golden/NAME.md. A difference prints a line diff. To rewrite the
 * goldens after an intended change, run with RB_UPDATE_GOLDEN=1, then read
 * every changed file as the person who will receive it would.
 *
 * Fixture details are written with ' for " to stay readable; a literal '
 * in a value is written \u0027. Runs from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "commands/rb.h"
#include "commands/render.h"
#include "commands/report.h"

#define GOLDEN_DIR   "tests/golden/"
#define TEMPLATE_DIR "templates/"

/* ---- fixtures ------------------------------------------------------------ */

/* One audit row as written in a fixture: detail with ' for ". */
struct fx_row {
	const char *at;
	const char *actor;
	const char *kind;
	const char *detail;
};

struct fixture {
	const char *name; /* the golden file's name, without .md */
	struct report_incident inc;
	const struct fx_row *rows;
	size_t n;
	const char *names; /* inc.names as JSON with ' for ", or NULL */
};

#define FX(rows) (rows), (sizeof(rows) / sizeof((rows)[0]))

/* Case 1: a P1 rolled back with kubectl after one approval; the first
 * verification round fails (health 503, error rate 6.0%), a status update
 * goes out, the second passes. A pinned message from before the approval
 * goes in at its own time; another one is pinned, then unpinned. */
static const struct fx_row p1_rows[] = {
	{ "2026-11-23T15:17:02.123Z", "U02JD0E4512", "command_received",
	  "{'command':'/rollback','text':'payments-api --to 41 --severity P1 --reason "
	  "\\'checkout 5xx at 6%\\'','channel':'C0INCIDENTS','service':'payments-api',"
	  "'target':'41','severity':'P1','reason':'checkout 5xx at 6%','envelope_id':"
	  "'e-7f3a','trigger_id':'t-1190'}" },
	{ "2026-11-23T15:17:02.123Z", "rollbot", "state_change", "{'from':null,'to':'declared'}" },
	{ "2026-11-23T15:17:02.871Z", "rollbot", "message_posted",
	  "{'message':'announcement','channel':'C0INCIDENTS','ts':'1795447022.000100'}" },
	{ "2026-11-23T15:17:03.402Z", "rollbot", "plan_ready",
	  "{'target':'41','steps':'2','running_before':'42','display_name':'Payments',"
	  "'environment':'production (cluster prod-eu)','affected':'checkout and card payments',"
	  "'owner':'payments team'}" },
	{ "2026-11-23T15:17:03.402Z", "rollbot", "state_change",
	  "{'from':'declared','to':'awaiting_approval'}" },
	{ "2026-11-23T15:17:03.950Z", "rollbot", "message_posted",
	  "{'message':'approval_request','channel':'C0INCIDENTS','ts':'1795447023.000200'}" },
	{ "2026-11-23T15:17:04.310Z", "U0ROLLBOT1", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'ignored_bot_reaction'}" },
	{ "2026-11-23T15:17:04.390Z", "U0ROLLBOT1", "reaction_added",
	  "{'reaction':'x','decision':'ignored_bot_reaction'}" },
	{ "2026-11-23T15:18:11.020Z", "U02JD0E4512", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'ignored_requester'}" },
	{ "2026-11-23T15:19:40.551Z", "U05ONCALL1", "pinned",
	  "{'author':'U04SRE9K2','text':'EU checkout failing since the 15:02 deploy, "
	  "error rate 6%','ts':'1795447120.000300','posted_at':'2026-11-23T15:18:40.118Z'}" },
	{ "2026-11-23T15:19:50.803Z", "U03ASM1TH7Q", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'approval_counted'}" },
	{ "2026-11-23T15:19:50.803Z", "rollbot", "state_change",
	  "{'from':'awaiting_approval','to':'approved'}" },
	{ "2026-11-23T15:19:51.240Z", "rollbot", "message_posted",
	  "{'message':'approved','channel':'C0INCIDENTS','ts':'1795447191.000400'}" },
	{ "2026-11-23T15:19:51.300Z", "rollbot", "state_change",
	  "{'from':'approved','to':'rolling_back'}" },
	{ "2026-11-23T15:19:52.598Z", "rollbot", "command_run",
	  "{'step':0,'title':'Roll deployment/payments-api back to revision 41','argv':["
	  "'kubectl','rollout','undo','deployment/payments-api','-n','prod',"
	  "'--to-revision=41'],'command':'kubectl rollout undo deployment/payments-api -n prod "
	  "--to-revision=41','exit_status':'0','timed_out':false,'pgid':4242,'duration_ms':"
	  "'1234','output':'deployment.apps/payments-api rolled back\\n','truncated':false}" },
	{ "2026-11-23T15:19:52.903Z", "rollbot", "message_posted",
	  "{'message':'step_result','channel':'C0INCIDENTS','ts':'1795447192.000500'}" },
	{ "2026-11-23T15:21:30.411Z", "rollbot", "command_run",
	  "{'step':1,'title':'Wait for the rollout','argv':['kubectl','rollout','status',"
	  "'deployment/payments-api','-n','prod','--timeout=300s'],'command':'kubectl rollout "
	  "status deployment/payments-api -n prod --timeout=300s','exit_status':'0','timed_out':"
	  "false,'pgid':4250,'duration_ms':'97801','output':'Waiting for deployment "
	  "\\'payments-api\\' rollout to finish: 1 of 3 updated replicas are available...\\n"
	  "deployment \\'payments-api\\' successfully rolled out\\n','truncated':false}" },
	{ "2026-11-23T15:21:30.702Z", "rollbot", "state_change",
	  "{'from':'rolling_back','to':'verifying'}" },
	{ "2026-11-23T15:21:31.114Z", "rollbot", "message_posted",
	  "{'message':'rolled_back','channel':'C0INCIDENTS','ts':'1795447291.000600'}" },
	{ "2026-11-23T15:22:31.090Z", "rollbot", "probe_results",
	  "{'status':{'passed':true,'detail':'deployment successfully rolled out'},'health':"
	  "{'passed':false,'detail':'HTTP 503'},'version':{'passed':true,'detail':'41 is "
	  "running'},'error_rate':{'passed':false,'detail':'6.0% (threshold 1.0%)'},'latency':"
	  "{'passed':true,'detail':'1.4 s (threshold 2.0 s)'}}" },
	{ "2026-11-23T15:22:31.091Z", "rollbot", "verification",
	  "{'round':'1','passed':'false','failures':'health check: HTTP 503; error rate: 6.0% "
	  "(threshold 1.0%)'}" },
	{ "2026-11-23T15:24:30.008Z", "U05ONCALL1", "pinned",
	  "{'author':'U04SRE9K2','text':'DB pool exhausted too?','ts':'1795447450.000700',"
	  "'posted_at':'2026-11-23T15:24:10.442Z'}" },
	{ "2026-11-23T15:25:00.315Z", "U05ONCALL1", "unpinned", "{'ts':'1795447450.000700'}" },
	{ "2026-11-23T15:27:02.130Z", "rollbot", "status_update",
	  "{'number':'1','state':'verifying'}" },
	{ "2026-11-23T15:27:02.611Z", "rollbot", "message_posted",
	  "{'message':'status_update','channel':'C0INCIDENTS','ts':'1795447622.000800'}" },
	{ "2026-11-23T15:27:31.388Z", "rollbot", "probe_results",
	  "{'status':{'passed':true,'detail':'deployment successfully rolled out'},'health':"
	  "{'passed':true,'detail':'HTTP 200'},'version':{'passed':true,'detail':'41 is "
	  "running'},'error_rate':{'passed':true,'detail':'0.12% (threshold 1.0%)'},'latency':"
	  "{'passed':true,'detail':'440 ms (threshold 2.0 s)'}}" },
	{ "2026-11-23T15:27:31.389Z", "rollbot", "verification",
	  "{'round':'2','passed':'true','failures':''}" },
	{ "2026-11-23T15:27:31.389Z", "rollbot", "state_change",
	  "{'from':'verifying','to':'resolved'}" },
	{ "2026-11-23T15:27:31.902Z", "rollbot", "message_posted",
	  "{'message':'complete','channel':'C0INCIDENTS','ts':'1795447651.000900'}" },
	{ "2026-11-23T15:41:12.004Z", "U05ONCALL1", "draft_sent", "{'draft':'status-page'}" },
};

/* Case 2: a P0 whose approval is skipped ("production down"), with Helm;
 * one message could not be posted; no latency query configured. */
static const struct fx_row p0_rows[] = {
	{ "2026-11-24T03:12:45.880Z", "U06NIGHT01", "command_received",
	  "{'command':'/rollback','text':'checkout-web --to 7 --severity P0 --reason \\'site "
	  "down: 502 on every page\\'','channel':'C0INCIDENTS','service':'checkout-web',"
	  "'target':'7','severity':'P0','reason':'site down: 502 on every page'}" },
	{ "2026-11-24T03:12:45.880Z", "rollbot", "state_change", "{'from':null,'to':'declared'}" },
	{ "2026-11-24T03:12:46.402Z", "rollbot", "message_posted",
	  "{'message':'announcement','channel':'C0INCIDENTS','ts':'1795489966.000100'}" },
	{ "2026-11-24T03:12:46.950Z", "rollbot", "plan_ready",
	  "{'target':'7','steps':'2','running_before':'8','deployed_at':"
	  "'2026-11-24T04:02:11.412367+01:00','display_name':'Checkout'}" },
	{ "2026-11-24T03:12:46.950Z", "rollbot", "approval_skipped", "{'severity':'P0'}" },
	{ "2026-11-24T03:12:46.950Z", "rollbot", "state_change",
	  "{'from':'declared','to':'approved'}" },
	{ "2026-11-24T03:12:47.004Z", "rollbot", "state_change",
	  "{'from':'approved','to':'rolling_back'}" },
	{ "2026-11-24T03:12:47.390Z", "rollbot", "message_posted",
	  "{'message':'approval_skipped','channel':'C0INCIDENTS','ts':'1795489967.000200'}" },
	{ "2026-11-24T03:13:28.901Z", "rollbot", "command_run",
	  "{'step':0,'title':'Roll release checkout-web back to revision 7','argv':[],"
	  "'command':'helm rollback checkout-web 7 -n web --wait --timeout 300s','exit_status':"
	  "'0','timed_out':false,'pgid':812,'duration_ms':'41877','output':'Rollback was a "
	  "success! Happy Helming!\\n','truncated':false}" },
	{ "2026-11-24T03:13:29.530Z", "rollbot", "command_run",
	  "{'step':1,'title':'Release status','argv':[],'command':'helm status checkout-web -n "
	  "web','exit_status':'0','timed_out':false,'pgid':820,'duration_ms':'612','output':"
	  "'STATUS: deployed\\n','truncated':false}" },
	{ "2026-11-24T03:13:29.531Z", "rollbot", "state_change",
	  "{'from':'rolling_back','to':'verifying'}" },
	{ "2026-11-24T03:13:35.004Z", "rollbot", "message_failed",
	  "{'message':'rolled_back','channel':'C0INCIDENTS','error':'ratelimited'}" },
	{ "2026-11-24T03:13:59.611Z", "rollbot", "probe_results",
	  "{'status':{'passed':true,'detail':'STATUS: deployed'},'health':{'passed':true,"
	  "'detail':'HTTP 200'},'error_rate':{'passed':true,'detail':'0.31% (threshold 1.0%)'}}" },
	{ "2026-11-24T03:13:59.612Z", "rollbot", "verification",
	  "{'round':'1','passed':'true','failures':''}" },
	{ "2026-11-24T03:13:59.612Z", "rollbot", "state_change",
	  "{'from':'verifying','to':'resolved'}" },
	{ "2026-11-24T03:14:00.120Z", "rollbot", "message_posted",
	  "{'message':'complete','channel':'C0INCIDENTS','ts':'1795490040.000300'}" },
};

/* Case 3: no --to (the target was read from the history), no reason, and
 * the service still unhealthy when the verification window ends; rollbot
 * restarted while verifying. The incident row has ended_at: the shell sets
 * it on every final state, failed included, even though people are still
 * expected to act (and may resolve it by hand later, which moves it). */
static const struct fx_row failed_rows[] = {
	{ "2026-11-25T09:00:00.000Z", "U07KLEE001", "command_received",
	  "{'command':'/rollback','text':'search-api --severity P2','channel':'C0INCIDENTS',"
	  "'service':'search-api','target':'','severity':'P2','reason':''}" },
	{ "2026-11-25T09:00:00.000Z", "rollbot", "state_change", "{'from':null,'to':'declared'}" },
	{ "2026-11-25T09:00:00.640Z", "rollbot", "message_posted",
	  "{'message':'announcement','channel':'C0INCIDENTS','ts':'1795597200.000100'}" },
	{ "2026-11-25T09:00:03.215Z", "rollbot", "plan_ready", "{'target':'17','steps':'2'}" },
	{ "2026-11-25T09:00:03.215Z", "rollbot", "state_change",
	  "{'from':'declared','to':'awaiting_approval'}" },
	{ "2026-11-25T09:00:03.700Z", "rollbot", "message_posted",
	  "{'message':'approval_request','channel':'C0INCIDENTS','ts':'1795597203.000200'}" },
	{ "2026-11-25T09:03:10.118Z", "U03ASM1TH7Q", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'approval_counted'}" },
	{ "2026-11-25T09:03:10.118Z", "rollbot", "state_change",
	  "{'from':'awaiting_approval','to':'approved'}" },
	{ "2026-11-25T09:03:10.502Z", "rollbot", "state_change",
	  "{'from':'approved','to':'rolling_back'}" },
	{ "2026-11-25T09:03:11.430Z", "rollbot", "command_run",
	  "{'step':0,'command':'kubectl rollout undo deployment/search-api -n search "
	  "--to-revision=17','exit_status':'0','timed_out':false,'duration_ms':'903','output':"
	  "'deployment.apps/search-api rolled back\\n'}" },
	{ "2026-11-25T09:03:47.008Z", "rollbot", "command_run",
	  "{'step':1,'command':'kubectl rollout status deployment/search-api -n search "
	  "--timeout=300s','exit_status':'0','timed_out':false,'duration_ms':'35240','output':"
	  "'deployment \\'search-api\\' successfully rolled out\\n'}" },
	{ "2026-11-25T09:03:47.100Z", "rollbot", "state_change",
	  "{'from':'rolling_back','to':'verifying'}" },
	{ "2026-11-25T09:04:17.230Z", "rollbot", "probe_results",
	  "{'health':{'passed':false,'detail':'HTTP 503'},'version':{'passed':true,'detail':"
	  "'17 is running'},'error_rate':{'passed':false,'detail':'12% (threshold 1.0%)'},"
	  "'latency':{'passed':false,'detail':'3.2 s (threshold 2.0 s)'}}" },
	{ "2026-11-25T09:04:17.231Z", "rollbot", "verification",
	  "{'round':'1','passed':'false','failures':'health check: HTTP 503; error rate: 12% "
	  "(threshold 1.0%); p99 latency: 3.2 s (threshold 2.0 s)'}" },
	{ "2026-11-25T09:06:02.340Z", "rollbot", "resumed", "{'state':'verifying'}" },
	{ "2026-11-25T09:06:03.001Z", "rollbot", "probe_results",
	  "{'health':{'passed':false,'detail':'HTTP 503'},'version':{'passed':true,'detail':"
	  "'17 is running'},'error_rate':{'passed':false,'detail':'9.4% (threshold 1.0%)'},"
	  "'latency':{'passed':false,'detail':'2.8 s (threshold 2.0 s)'}}" },
	{ "2026-11-25T09:06:03.002Z", "rollbot", "verification",
	  "{'round':'2','passed':'false','failures':'health check: HTTP 503; error rate: 9.4% "
	  "(threshold 1.0%); p99 latency: 2.8 s (threshold 2.0 s)'}" },
	{ "2026-11-25T09:10:00.004Z", "rollbot", "status_update",
	  "{'number':'1','state':'verifying'}" },
	{ "2026-11-25T09:11:03.310Z", "rollbot", "probe_results",
	  "{'health':{'passed':false,'detail':'HTTP 503'},'version':{'passed':true,'detail':"
	  "'17 is running'},'error_rate':{'passed':false,'detail':'8.9% (threshold 1.0%)'},"
	  "'latency':{'passed':false,'detail':'2.6 s (threshold 2.0 s)'}}" },
	{ "2026-11-25T09:11:03.311Z", "rollbot", "verification",
	  "{'round':'3','passed':'false','failures':'health check: HTTP 503; error rate: 8.9% "
	  "(threshold 1.0%); p99 latency: 2.6 s (threshold 2.0 s)'}" },
	{ "2026-11-25T09:11:03.311Z", "rollbot", "state_change",
	  "{'from':'verifying','to':'failed'}" },
	{ "2026-11-25T09:11:03.820Z", "rollbot", "message_posted",
	  "{'message':'verify_failed','channel':'C0INCIDENTS','ts':'1795597863.000300'}" },
};

/* Case 4: cancelled by the requester before anything ran (a blue-green
 * service: no --to); a reaction from someone who may not approve. */
static const struct fx_row cancelled_rows[] = {
	{ "2026-11-26T11:40:12.500Z", "U02JD0E4512", "command_received",
	  "{'command':'/rollback','text':'storefront --severity P1 --reason \\'cart page blank "
	  "after the 2.4 release\\'','channel':'C0INCIDENTS','service':'storefront','target':"
	  "'','severity':'P1','reason':'cart page blank after the 2.4 release'}" },
	{ "2026-11-26T11:40:12.500Z", "rollbot", "state_change", "{'from':null,'to':'declared'}" },
	{ "2026-11-26T11:40:13.044Z", "rollbot", "message_posted",
	  "{'message':'announcement','channel':'C0INCIDENTS','ts':'1795693213.000100'}" },
	{ "2026-11-26T11:40:13.310Z", "rollbot", "plan_ready", "{'target':'','steps':'1'}" },
	{ "2026-11-26T11:40:13.310Z", "rollbot", "state_change",
	  "{'from':'declared','to':'awaiting_approval'}" },
	{ "2026-11-26T11:40:13.800Z", "rollbot", "message_posted",
	  "{'message':'approval_request','channel':'C0INCIDENTS','ts':'1795693213.000200'}" },
	{ "2026-11-26T11:41:30.001Z", "U09DEV0001", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'ignored_not_approver'}" },
	{ "2026-11-26T11:43:02.617Z", "U02JD0E4512", "command_received",
	  "{'command':'/rollback','text':'cancel INC-2026-0045 false alarm: the CDN served a "
	  "stale `cart.js`','channel':'C0INCIDENTS'}" },
	{ "2026-11-26T11:43:02.790Z", "U02JD0E4512", "cancelled",
	  "{'note':'false alarm: the CDN served a stale `cart.js`','was':'awaiting_approval'}" },
	{ "2026-11-26T11:43:02.790Z", "rollbot", "state_change",
	  "{'from':'awaiting_approval','to':'cancelled'}" },
	{ "2026-11-26T11:43:03.215Z", "rollbot", "message_posted",
	  "{'message':'cancelled','channel':'C0INCIDENTS','ts':'1795693383.000300'}" },
};

/* Case 5: across midnight and a month end (2026-11-30 → 2026-12-01). Two
 * approvals needed; one is withdrawn, rollbot restarts and recounts; the
 * flag service is switched by HTTP; verification sees no health check and a
 * high error rate, and an approver resolves it by hand. */
static const struct fx_row midnight_rows[] = {
	{ "2026-11-30T23:58:30.250Z", "U0MAYA0001", "command_received",
	  "{'command':'/rollback','text':'promo-flags --severity P2 --reason \\'new promo "
	  "banner crashes the iOS app\\'','channel':'C0INCIDENTS','service':'promo-flags',"
	  "'target':'','severity':'P2','reason':'new promo banner crashes the iOS app'}" },
	{ "2026-11-30T23:58:30.250Z", "rollbot", "state_change", "{'from':null,'to':'declared'}" },
	{ "2026-11-30T23:58:30.902Z", "rollbot", "message_posted",
	  "{'message':'announcement','channel':'C0INCIDENTS','ts':'1796083110.000100'}" },
	{ "2026-11-30T23:58:31.020Z", "rollbot", "plan_ready", "{'target':'','steps':'2'}" },
	{ "2026-11-30T23:58:31.020Z", "rollbot", "state_change",
	  "{'from':'declared','to':'awaiting_approval'}" },
	{ "2026-11-30T23:58:31.466Z", "rollbot", "message_posted",
	  "{'message':'approval_request','channel':'C0INCIDENTS','ts':'1796083111.000200'}" },
	{ "2026-11-30T23:59:10.300Z", "U03ASM1TH7Q", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'approval_counted'}" },
	{ "2026-11-30T23:59:20.950Z", "U03ASM1TH7Q", "reaction_removed",
	  "{'reaction':'white_check_mark','decision':'approval_withdrawn'}" },
	{ "2026-12-01T00:00:05.102Z", "rollbot", "resumed", "{'state':'awaiting_approval'}" },
	{ "2026-12-01T00:00:05.911Z", "U03ASM1TH7Q", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'approval_counted','source':'recount'}" },
	{ "2026-12-01T00:01:00.300Z", "U08BOB0001", "reaction_added",
	  "{'reaction':'white_check_mark','decision':'approval_counted'}" },
	{ "2026-12-01T00:01:00.300Z", "rollbot", "state_change",
	  "{'from':'awaiting_approval','to':'approved'}" },
	{ "2026-12-01T00:01:00.412Z", "rollbot", "state_change",
	  "{'from':'approved','to':'rolling_back'}" },
	{ "2026-12-01T00:01:00.833Z", "rollbot", "http_request",
	  "{'step':0,'title':'Turn promo-banner off','method':'POST','url':"
	  "'https://flags.internal.example/api/v1/flags','status':200,'response':'{}','ok':true}" },
	{ "2026-12-01T00:01:01.020Z", "rollbot", "http_request",
	  "{'step':1,'title':'Read promo-banner back','method':'GET','url':"
	  "'https://flags.internal.example/api/v1/flags/promo-banner','status':200,'response':"
	  "'{\\'enabled\\':false}','ok':true}" },
	{ "2026-12-01T00:01:01.100Z", "rollbot", "state_change",
	  "{'from':'rolling_back','to':'verifying'}" },
	{ "2026-12-01T00:01:31.400Z", "rollbot", "probe_results",
	  "{'error_rate':{'passed':false,'detail':'2.3% (threshold 1.0%)'}}" },
	{ "2026-12-01T00:01:31.401Z", "rollbot", "verification",
	  "{'round':'1','passed':'false','failures':'error rate: 2.3% (threshold 1.0%)'}" },
	{ "2026-12-01T00:04:09.700Z", "U08BOB0001", "command_received",
	  "{'command':'/rollback','text':'resolve INC-2026-0046 flag is off; the errors come "
	  "from old app builds that cached the banner','channel':'C0INCIDENTS'}" },
	{ "2026-12-01T00:04:09.990Z", "U08BOB0001", "resolved_by_hand",
	  "{'note':'flag is off; the errors come from old app builds that cached the banner',"
	  "'was':'verifying'}" },
	{ "2026-12-01T00:04:09.990Z", "rollbot", "state_change",
	  "{'from':'verifying','to':'resolved'}" },
	{ "2026-12-01T00:04:10.402Z", "rollbot", "message_posted",
	  "{'message':'resolved','channel':'C0INCIDENTS','ts':'1796083450.000300'}" },
};

static const struct fixture fixtures[] = {
	{ "p1_resolved",
	  { "INC-2026-0042", "payments-api", "P1", "resolved", "checkout 5xx at 6%", "41",
	    "kubectl", "U02JD0E4512", "C0INCIDENTS", "2026-11-23T15:17:02.123Z",
	    "2026-11-23T15:27:31.455Z", "", false, NULL, NULL },
	  FX(p1_rows),
	  "{'U02JD0E4512':'Dana Whitfield','U03ASM1TH7Q':'Arjun Mehta','U04SRE9K2':'Sam Okafor'}" },
	{ "p0_skipped",
	  { "INC-2026-0043", "checkout-web", "P0", "resolved", "site down: 502 on every page", "7",
	    "helm", "U06NIGHT01", "C0INCIDENTS", "2026-11-24T03:12:45.880Z",
	    "2026-11-24T03:13:59.700Z", "", false, NULL, NULL },
	  FX(p0_rows), NULL },
	/* The same, for operators in Berlin (display_timezone): UTC stays,
	 * local beside it. */
	{ "p0_berlin",
	  { "INC-2026-0043", "checkout-web", "P0", "resolved", "site down: 502 on every page", "7",
	    "helm", "U06NIGHT01", "C0INCIDENTS", "2026-11-24T03:12:45.880Z",
	    "2026-11-24T03:13:59.700Z", "", false, "Europe/Berlin", NULL },
	  FX(p0_rows), NULL },
	{ "verify_failed",
	  { "INC-2026-0044", "search-api", "P2", "failed", "", "17", "kubectl", "U07KLEE001",
	    "C0INCIDENTS", "2026-11-25T09:00:00.000Z", "2026-11-25T09:11:03.402Z", "", false, NULL, NULL },
	  FX(failed_rows), NULL },
	{ "cancelled",
	  { "INC-2026-0045", "storefront", "P1", "cancelled",
	    "cart page blank after the 2.4 release", "", "bluegreen", "U02JD0E4512", "C0INCIDENTS",
	    "2026-11-26T11:40:12.500Z", "2026-11-26T11:43:02.851Z", "U02JD0E4512", false, NULL, NULL },
	  FX(cancelled_rows), NULL },
	{ "midnight",
	  { "INC-2026-0046", "promo-flags", "P2", "resolved",
	    "new promo banner crashes the iOS app", "", "flag", "U0MAYA0001", "C0INCIDENTS",
	    "2026-11-30T23:58:30.250Z", "2026-12-01T00:04:10.051Z", "U08BOB0001", false, NULL, NULL },
	  FX(midnight_rows), NULL },
};

/* Turns a fixture's ' into ". Returns a new string. */
static char *dq(const char *s)
{
	char *d = rb_strdup(s);

	for (char *c = d; *c; c++)
		if (*c == '\'')
			*c = '"';
	return d;
}

/* report_data of a fixture, with its details made into JSON for the call. */
static json_t *fixture_data(const struct fixture *f)
{
	struct report_row *rows = rb_calloc(f->n + 1, sizeof *rows);
	char **details = rb_calloc(f->n + 1, sizeof *details);
	struct report_incident inc = f->inc;
	char *names = f->names ? dq(f->names) : NULL;
	json_t *data;

	inc.names = names ? json_loads(names, 0, NULL) : NULL;
	free(names);
	for (size_t i = 0; i < f->n; i++) {
		details[i] = dq(f->rows[i].detail);
		rows[i] = (struct report_row){ f->rows[i].at, f->rows[i].actor, f->rows[i].kind,
					       details[i] };
	}
	data = report_data(&inc, rows, f->n);
	json_decref((json_t *)inc.names);
	for (size_t i = 0; i < f->n; i++)
		free(details[i]);
	free(details);
	free(rows);
	return data;
}

static const struct fixture *fixture(const char *name)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(fixtures); i++)
		if (!strcmp(fixtures[i].name, name))
			return &fixtures[i];
	fail_msg("no fixture %s", name);
	return NULL;
}

/* ---- goldens ------------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct rb_buf b;
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	rb_buf_init(&b, 1u << 22);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (rb_buf_append(&b, chunk, n))
			break;
	fclose(f);
	return rb_buf_steal(&b);
}

static void spit(const char *path, const char *s)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, strlen(s), f), strlen(s));
	assert_int_equal(fclose(f), 0);
}

/* Splits s into lines (pointers into a copy); the copy is lines[0]'s base. */
static size_t split_lines(char *s, char ***out)
{
	size_t n = 0, cap = 16;
	char **v = rb_malloc(cap * sizeof *v);

	while (*s) {
		char *nl = strchr(s, '\n');
		if (n == cap)
			v = rb_realloc(v, (cap *= 2) * sizeof *v);
		v[n++] = s;
		if (!nl)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	*out = v;
	return n;
}

/* Prints a line diff of want → got (longest common subsequence; the
 * goldens are a few hundred lines), with two lines of context. */
static void print_diff(const char *path, const char *want, const char *got)
{
	char *a = rb_strdup(want), *b = rb_strdup(got), **x, **y;
	size_t n = split_lines(a, &x), m = split_lines(b, &y), i = 0, j = 0, k = 0, nops;
	unsigned *lcs = rb_calloc((n + 1) * (m + 1), sizeof *lcs);
	char *op = rb_malloc(n + m + 1);
	const char **line = rb_malloc((n + m + 1) * sizeof *line);

#define L(i, j) lcs[(i) * (m + 1) + (j)]
	for (size_t p = n; p-- > 0;)
		for (size_t q = m; q-- > 0;)
			L(p, q) = !strcmp(x[p], y[q])	    ? L(p + 1, q + 1) + 1 :
				  L(p + 1, q) > L(p, q + 1) ? L(p + 1, q) :
							      L(p, q + 1);
	while (i < n || j < m) {
		if (i < n && j < m && !strcmp(x[i], y[j]))
			op[k] = ' ', line[k++] = x[i++], j++;
		else if (i < n && (j == m || L(i + 1, j) >= L(i, j + 1)))
			op[k] = '-', line[k++] = x[i++];
		else
			op[k] = '+', line[k++] = y[j++];
	}
#undef L
	nops = k;
	fprintf(stderr, "--- %s (golden)\n+++ rendered now\n", path);
	for (k = 0; k < nops; k++) {
		bool show = op[k] != ' ';
		for (size_t d = 1; d <= 2 && !show; d++)
			show = (k >= d && op[k - d] != ' ') || (k + d < nops && op[k + d] != ' ');
		if (show)
			fprintf(stderr, "%c%s\n", op[k], line[k]);
		else if (k > 0 && op[k - 1] == ' ' && k >= 3 && op[k - 3] != ' ')
			fprintf(stderr, "…\n");
	}
	fprintf(stderr, "(rewrite with RB_UPDATE_GOLDEN=1, then read the file)\n");
	free(line);
	free(op);
	free(lcs);
	free(x);
	free(y);
	free(a);
	free(b);
}

/* Renders template `tmpl` (a file under templates/) with the fixture's data
 * and compares with tests/golden/`golden`. */
static void check_golden(const char *fixture_name, const char *tmpl, const char *golden)
{
	char tpath[256], gpath[256], err[RB_ERR_LEN] = "";
	json_t *data = fixture_data(fixture(fixture_name));
	char *text, *got, *want;

	snprintf(tpath, sizeof tpath, TEMPLATE_DIR "%s", tmpl);
	snprintf(gpath, sizeof gpath, GOLDEN_DIR "%s", golden);
	text = slurp(tpath);
	if (!text)
		fail_msg("cannot read %s (run from the repository root)", tpath);
	got = report_render(text, data, err, sizeof err);
	if (!got)
		fail_msg("%s: %s", tpath, err);
	if (getenv("RB_UPDATE_GOLDEN"))
		spit(gpath, got);
	want = slurp(gpath);
	if (!want)
		fail_msg("cannot read %s: write it with RB_UPDATE_GOLDEN=1", gpath);
	if (strcmp(want, got)) {
		print_diff(gpath, want, got);
		fail_msg("%s: the rendered report differs from the golden", gpath);
	}
	free(want);
	free(got);
	free(text);
	json_decref(data);
}

#define REPORT "incident_report.md.mustache"

static void test_golden_p1_resolved(void **state)
{
	(void)state;
	check_golden("p1_resolved", REPORT, "p1_resolved.md");
}

static void test_golden_p0_skipped(void **state)
{
	(void)state;
	check_golden("p0_skipped", REPORT, "p0_skipped.md");
}

/* display_timezone (issue 11, item 12): the zone is set as rollbot sets it
 * at start, so the test does not depend on the host's zone. */
static void test_golden_berlin(void **state)
{
	(void)state;
	report_set_zone("Europe/Berlin");
	check_golden("p0_berlin", REPORT, "p0_skipped.berlin.md");
	report_set_zone(NULL);
}

static void test_local_clock(void **state)
{
	char out[48];

	(void)state;
	report_set_zone("Europe/Berlin");
	report_local_clock(1795576365880, out, sizeof out); /* 2026-11-25T03:12:45.880Z */
	assert_string_equal(out, "04:12:45 CET");
	report_local_clock(1782907200000, out, sizeof out); /* 2026-07-01T12:00:00Z */
	assert_string_equal(out, "14:00:00 CEST");
	report_set_zone(NULL);
	report_local_clock(1782907200000, out, sizeof out);
	assert_string_equal(out, "12:00:00 UTC");
}

static void test_golden_verify_failed(void **state)
{
	(void)state;
	check_golden("verify_failed", REPORT, "verify_failed.md");
}

static void test_golden_cancelled(void **state)
{
	(void)state;
	check_golden("cancelled", REPORT, "cancelled.md");
}

static void test_golden_midnight(void **state)
{
	(void)state;
	check_golden("midnight", REPORT, "midnight.md");
}

static void test_golden_drafts(void **state)
{
	(void)state;
	check_golden("p1_resolved", "draft_internal.mustache", "p1_resolved.draft_internal.txt");
	check_golden("p1_resolved", "draft_status_page.mustache",
		     "p1_resolved.draft_status_page.txt");
	check_golden("p1_resolved", "draft_customer_email.mustache",
		     "p1_resolved.draft_customer_email.txt");
	check_golden("midnight", "draft_internal.mustache", "midnight.draft_internal.txt");
	check_golden("midnight", "draft_customer_email.mustache",
		     "midnight.draft_customer_email.txt");
}

/* The templates load in the bot (tpl_check at start): they must parse. */
static void test_templates_parse(void **state)
{
	static const char *const names[] = { REPORT, "draft_internal.mustache",
					     "draft_status_page.mustache",
					     "draft_customer_email.mustache" };
	char path[256], err[RB_ERR_LEN];

	(void)state;
	for (size_t i = 0; i < RB_ARRAY_LEN(names); i++) {
		char *t;
		snprintf(path, sizeof path, TEMPLATE_DIR "%s", names[i]);
		t = slurp(path);
		assert_non_null(t);
		if (tpl_check(t, err, sizeof err))
			fail_msg("%s: %s", path, err);
		free(t);
	}
}

/* ---- report_duration and report_parse_time ------------------------------- */

static void dur(int64_t s, const char *want)
{
	char out[32];

	report_duration(s, out, sizeof out);
	assert_string_equal(out, want);
}

static void test_duration(void **state)
{
	(void)state;
	dur(0, "0 s");
	dur(45, "45 s");
	dur(59, "59 s");
	dur(60, "1 min 00 s");
	dur(785, "13 min 05 s");
	dur(3599, "59 min 59 s");
	dur(3600, "1 h 00 min");
	dur(7260, "2 h 01 min");
	dur(7319, "2 h 01 min"); /* truncated, never rounded up */
	dur(86399, "23 h 59 min");
	dur(86400, "1 d 00 h");
	dur(93600, "1 d 02 h");
	dur(40 * 86400 + 5 * 3600, "40 d 05 h");
	dur(-5, "0 s");
}

/* The one formatter for measured spans (issue 11, item 8): a short blip is
 * never "0 s", and everything is truncated. */
static void span(int64_t ms, const char *want)
{
	char out[32];

	report_span(ms, out, sizeof out);
	assert_string_equal(out, want);
}

static void test_span(void **state)
{
	(void)state;
	span(0, "0 s");
	span(-20, "0 s");
	span(40, "under 0.1 s");
	span(400, "0.4 s");
	span(999, "0.9 s");
	span(1000, "1 s");
	span(2999, "2 s");
	span(59900, "59 s");
	span(60000, "1 min 00 s");
	span(65000, "1 min 05 s");
	span(3600 * 1000 + 61000, "1 h 01 min");
}

/* One downtime computation: spans closed by a passing result, an open one
 * counted to the last result seen. */
static void test_down(void **state)
{
	struct report_down d = { 0 };

	(void)state;
	assert_int_equal(report_down_observe(&d, 1000, true), -1);
	assert_int_equal(report_down_total(&d), 0);
	assert_int_equal(report_down_observe(&d, 1400, false), -1);
	assert_int_equal(report_down_observe(&d, 2000, false), -1);
	assert_int_equal(report_down_total(&d), 600);
	/* 1.400 to 3.650: the clocks show :01 and :03, so 2 s, as printed. */
	assert_int_equal(report_down_observe(&d, 3650, true), 2000);
	assert_int_equal(report_down_observe(&d, 5000, false), -1);
	assert_int_equal(report_down_observe(&d, 5400, false), -1);
	assert_int_equal(report_down_total(&d), 2400);
	assert_int_equal(report_between(1900, 2100), 200);
	assert_int_equal(report_between(1900, 3100), 2000);
	assert_int_equal(report_between(3100, 1900), 0);
	assert_true(d.seen);
}

static void test_duration_small_buffer(void **state)
{
	char out[6];

	(void)state;
	memset(out, 'x', sizeof out);
	report_duration(785, out, sizeof out);
	assert_string_equal(out, "13 mi");
	report_duration(785, out, 0); /* nothing written, no crash */
	assert_string_equal(out, "13 mi");
	report_duration(785, NULL, 0);
}

static int64_t parse_ok(const char *at)
{
	int64_t ms = -42;

	if (report_parse_time(at, &ms))
		fail_msg("report_parse_time(%s) refused", at);
	return ms;
}

static void test_parse_time(void **state)
{
	(void)state;
	assert_true(parse_ok("1970-01-01T00:00:00.000Z") == 0);
	assert_true(parse_ok("2026-11-23T15:17:02.123Z") == INT64_C(1795447022123));
	assert_true(parse_ok("2000-02-29T00:00:00.000Z") == INT64_C(951782400000));
	assert_true(parse_ok("1969-12-31T23:59:59.999Z") == -1);
	assert_true(parse_ok("1600-03-01T00:00:00.000Z") == INT64_C(-11670912000000));
	assert_true(parse_ok("0001-01-01T00:00:00.000Z") == INT64_C(-62135596800000));
	assert_true(parse_ok("9999-12-31T23:59:59.999Z") == INT64_C(253402300799999));
}

/* Midnight, month ends, year ends and leap days are one millisecond apart. */
static void test_parse_time_boundaries(void **state)
{
	static const char *const pairs[][2] = {
		{ "2026-11-30T23:59:59.999Z", "2026-12-01T00:00:00.000Z" },
		{ "2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00.000Z" },
		{ "2028-02-28T23:59:59.999Z", "2028-02-29T00:00:00.000Z" },
		{ "2028-02-29T23:59:59.999Z", "2028-03-01T00:00:00.000Z" },
		{ "2026-02-28T23:59:59.999Z", "2026-03-01T00:00:00.000Z" },
		{ "2100-02-28T23:59:59.999Z", "2100-03-01T00:00:00.000Z" },
		{ "1999-12-31T23:59:59.999Z", "2000-01-01T00:00:00.000Z" },
	};

	(void)state;
	for (size_t i = 0; i < RB_ARRAY_LEN(pairs); i++)
		if (parse_ok(pairs[i][1]) - parse_ok(pairs[i][0]) != 1)
			fail_msg("%s → %s is not 1 ms", pairs[i][0], pairs[i][1]);
}

static void test_parse_time_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"2026-11-23",
		"2026-11-23T15:17:02Z",	      /* no milliseconds */
		"2026-11-23T15:17:02.12Z",    /* two digits */
		"2026-11-23T15:17:02.1234Z",  /* four */
		"2026-11-23 15:17:02.123Z",   /* space for T */
		"2026-11-23T15:17:02.123",    /* no Z */
		"2026-11-23T15:17:02.123+00", /* an offset */
		"2026-11-23T15:17:02.123z",
		" 2026-11-23T15:17:02.123Z",
		"2026-11-23T15:17:02.123Z ",
		"2O26-11-23T15:17:02.123Z", /* letter O */
		"2026-00-23T15:17:02.123Z",
		"2026-13-23T15:17:02.123Z",
		"2026-11-00T15:17:02.123Z",
		"2026-11-31T15:17:02.123Z", /* November has 30 days */
		"2026-02-29T15:17:02.123Z", /* not a leap year */
		"1900-02-29T15:17:02.123Z", /* not a leap year either */
		"2026-11-23T24:00:00.000Z",
		"2026-11-23T15:60:02.123Z",
		"2026-11-23T15:17:60.123Z", /* PostgreSQL never writes a leap second */
		"2026-11-23T15:17:-2.123Z",
		"-026-11-23T15:17:02.123Z",
		"2026/11/23T15:17:02.123Z",
	};
	int64_t ms = 77;

	(void)state;
	for (size_t i = 0; i < RB_ARRAY_LEN(bad); i++) {
		if (report_parse_time(bad[i], &ms) != RB_EINVAL)
			fail_msg("report_parse_time accepted \"%s\"", bad[i]);
		assert_true(ms == 77);
	}
	assert_int_equal(report_parse_time(NULL, &ms), RB_EINVAL);
}

/* ---- the data ------------------------------------------------------------ */

static const char *get(const json_t *o, const char *path)
{
	char key[64];
	const char *dot = strchr(path, '.');

	if (dot) {
		snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
		return get(json_object_get(o, key), dot + 1);
	}
	assert_non_null(json_object_get(o, path));
	return json_string_value(json_object_get(o, path));
}

/* The text of the timeline entry that starts with `prefix`, or NULL. */
static const char *timeline_find(const json_t *data, const char *prefix, const char **at)
{
	size_t i;
	json_t *e;

	json_array_foreach (json_object_get(data, "timeline"), i, e) {
		const char *t = json_string_value(json_object_get(e, "text"));
		if (!strncmp(t, prefix, strlen(prefix))) {
			if (at)
				*at = json_string_value(json_object_get(e, "at"));
			return t;
		}
	}
	return NULL;
}

/* An escalation's row names the fallback people by name and a group as a
 * group (issue 12: the report shows people, never raw user IDs). */
static const struct fx_row escalated_rows[] = {
	{ "2026-11-23T15:17:02.123Z", "rollbot", "state_change", "{'from':null,'to':'declared'}" },
	{ "2026-11-23T15:22:03.950Z", "rollbot", "approval_escalated",
	  "{'added':'U04SRE9K2,U0NONAME01,S05ONCALL1','after_s':'300'}" },
};

static void test_escalation_row_names(void **state)
{
	struct fixture f = *fixture("p1_resolved");
	json_t *d;
	const char *t;

	(void)state;
	f.rows = escalated_rows;
	f.n = RB_ARRAY_LEN(escalated_rows);
	d = fixture_data(&f);
	t = timeline_find(d, "no decision", NULL);
	assert_non_null(t);
	assert_string_equal(t, "no decision after 5 min 00 s: approval request escalated to the "
			       "fallback approvers (Sam Okafor, U0NONAME01, the group S05ONCALL1)");
	json_decref(d);
}

static void test_data_fields(void **state)
{
	json_t *d = fixture_data(fixture("p1_resolved"));
	const char *at = NULL;

	(void)state;
	assert_string_equal(get(d, "id"), "INC-2026-0042");
	assert_string_equal(get(d, "date"), "2026-11-23");
	assert_string_equal(get(d, "duration"), "10 min 29 s");
	assert_string_equal(get(d, "duration_line"),
			    "2026-11-23 15:17:02 – 15:27:31 UTC (10 min 29 s)");
	assert_string_equal(get(d, "outcome"), "resolved after verification");
	assert_string_equal(get(d, "approved_by"), "Arjun Mehta"); /* names; the rows keep IDs */
	assert_string_equal(get(d, "requested_by"), "Dana Whitfield");
	assert_string_equal(get(d, "target"), "revision 41");
	assert_string_equal(get(d, "method_title"), "Kubernetes rolling rollback");
	/* Under an hour: seconds, never "from 15:17 to 15:17" (issue 11, item 8). */
	assert_string_equal(get(d, "start_human"), "15:17:02 UTC on 2026-11-23");
	assert_string_equal(get(d, "window_human"), "from 15:17:02 to 15:27:31 UTC on 2026-11-23");
	assert_string_equal(get(d, "health_now"), "health check passing (HTTP 200)");
	assert_string_equal(get(d, "error_rate_now"), "0.12% (threshold 1.0%)");
	assert_string_equal(get(d, "latency_now"), "440 ms (threshold 2.0 s)");
	assert_string_equal(get(d, "rollback_summary.success"), "Yes");
	assert_string_equal(get(d, "rollback_summary.duration"), "1 min 39 s");
	assert_string_equal(get(d, "impact.downtime"),
			    "health check failing from 15:22:31 to 15:27:31 (5 min 00 s)");
	assert_true(json_is_true(json_object_get(d, "verified")));
	assert_true(json_is_false(json_object_get(d, "ongoing")));
	/* The pin goes in at the message's time, before the approval. */
	assert_non_null(timeline_find(d, "📌 Sam Okafor: EU checkout", &at));
	assert_string_equal(at, "2026-11-23 15:18:40");
	/* The unpinned one is gone; ignored reactions never came. */
	assert_null(timeline_find(d, "📌 Sam Okafor: DB pool", NULL));
	assert_null(timeline_find(d, "approval by Dana Whitfield", NULL));
	/* A person with no name known is shown by ID. */
	assert_non_null(timeline_find(d, "status page update marked as sent by U05ONCALL1", &at));
	assert_string_equal(at, "2026-11-23 15:41:12");
	assert_string_equal(timeline_find(d, "step 1 ", NULL),
			    "step 1 `kubectl rollout undo deployment/payments-api -n prod "
			    "--to-revision=41`: exit status 0 in 1.2 s");
	json_decref(d);
}

/* Issue 11, item 7: what the runbooks' reports carry. */
static void test_data_facts(void **state)
{
	json_t *d = fixture_data(fixture("p1_resolved")), *p0 = fixture_data(fixture("p0_skipped"));
	json_t *c = fixture_data(fixture("cancelled"));
	const char *at = NULL;

	(void)state;
	assert_string_equal(get(d, "environment"), "production (cluster prod-eu)");
	assert_string_equal(get(d, "display_name"), "Payments");
	assert_string_equal(get(d, "impact.affected"), "checkout and card payments");
	assert_string_equal(get(d, "owner.lead"), "Dana Whitfield");
	assert_string_equal(get(d, "owner.team"), "payments team");
	assert_string_equal(get(d, "revision_after"),
			    "revision 41 (the version check at 15:27:31 said \"41 is running\")");
	assert_string_equal(get(d, "revision_before"),
			    "revision 42 (read from the tool's history before the rollback)");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(d, "communications"), 0), "text")),
			    "Status page update: sent (marked by U05ONCALL1 at 2026-11-23 15:41:12 UTC)");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(d, "communications"), 1), "text")),
			    "Customer email: not marked as sent (`/rollback sent INC-2026-0042 email` "
			    "records it)");
	assert_non_null(timeline_find(d, "problem detected: \"checkout 5xx at 6%\"", &at));
	assert_string_equal(at, "2026-11-23 15:17:02");
	/* helm: the revision running before, deployed at 04:02:11+01:00. */
	assert_string_equal(get(p0, "revision_before"),
			    "revision 8 (deployed at 2026-11-24 03:02:11 UTC; read from the tool's "
			    "history before the rollback)");
	assert_non_null(timeline_find(p0, "deploy of revision 8", &at));
	assert_string_equal(at, "2026-11-24 03:02:11");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(p0, "follow_ups"), 1), "text")),
			    "Block the bad deployment (revision 8) from being deployed again");
	assert_string_equal(get(p0, "display_name"), "Checkout");
	/* Nothing configured, nothing run. */
	assert_string_equal(get(c, "display_name"), "storefront");
	assert_string_equal(get(c, "revision_after"), "unchanged (nothing was run)");
	assert_string_equal(get(c, "environment"),
			    "not configured (the service has no `environment`)");
	json_decref(d);
	json_decref(p0);
	json_decref(c);
}

static void test_data_midnight(void **state)
{
	json_t *d = fixture_data(fixture("midnight"));

	(void)state;
	assert_string_equal(get(d, "date"), "2026-11-30");
	assert_string_equal(get(d, "duration"), "5 min 40 s");
	assert_string_equal(get(d, "duration_line"),
			    "2026-11-30 23:58:30 – 2026-12-01 00:04:10 UTC (5 min 40 s)");
	assert_string_equal(get(d, "window_human"),
			    "from 23:58:30 UTC on 2026-11-30 to 00:04:10 UTC on 2026-12-01");
	assert_string_equal(get(d, "approved_by"), "U03ASM1TH7Q, U08BOB0001");
	assert_string_equal(get(d, "outcome"), "resolved by hand by U08BOB0001");
	assert_string_equal(get(d, "impact.downtime"), "not measured (no health check)");
	assert_true(json_is_false(json_object_get(d, "verified")));
	json_decref(d);
}

/* An open incident: no end, and the report says so. */
static void test_data_ongoing(void **state)
{
	struct fixture f = *fixture("p1_resolved");
	json_t *d;

	(void)state;
	f.inc.state = "verifying";
	f.inc.ended_at = "";
	f.n = 22; /* up to the first failed round and the pins */
	d = fixture_data(&f);
	assert_true(json_is_true(json_object_get(d, "ongoing")));
	assert_string_equal(get(d, "end"), "");
	assert_string_equal(get(d, "duration"), "ongoing");
	assert_string_equal(get(d, "duration_line"), "2026-11-23 15:17:02 UTC – ongoing");
	assert_string_equal(get(d, "outcome"), "ongoing (verifying)");
	assert_string_equal(get(d, "rollback_summary.success"),
			    "Not yet: the incident is still verifying");
	assert_string_equal(get(d, "impact.downtime"),
			    "health check failing at the last check, at 15:22:31");
	json_decref(d);
}

static json_t *one_incident(const struct report_row *rows, size_t n)
{
	struct report_incident inc = { .id = "INC-2026-0099",
				       .service = "svc",
				       .severity = "P1",
				       .state = "awaiting_approval",
				       .method = "kubectl",
				       .requested_by = "U1",
				       .channel = "C1",
				       .created_at = "2026-01-01T10:00:00.000Z",
				       .ended_at = "" };

	return report_data(&inc, rows, n);
}

/* Pinned, unpinned, pinned again: the entry is back, once. */
static void test_pin_unpin_pin(void **state)
{
	const struct report_row rows[] = {
		{ "2026-01-01T10:05:00.000Z", "U2", "pinned",
		  "{\"author\":\"U3\",\"text\":\"look here\",\"ts\":\"1.1\",\"posted_at\":"
		  "\"2026-01-01T10:01:00.000Z\"}" },
		{ "2026-01-01T10:06:00.000Z", "U2", "unpinned", "{\"ts\":\"1.1\"}" },
		{ "2026-01-01T10:07:00.000Z", "U2", "pinned",
		  "{\"author\":\"U3\",\"text\":\"look here\",\"ts\":\"1.1\",\"posted_at\":"
		  "\"2026-01-01T10:01:00.000Z\"}" },
		{ "2026-01-01T10:08:00.000Z", "U4", "pinned",
		  "{\"author\":\"U3\",\"text\":\"look here\",\"ts\":\"1.1\",\"posted_at\":"
		  "\"2026-01-01T10:01:00.000Z\"}" },
	};
	json_t *d = one_incident(rows, RB_ARRAY_LEN(rows));
	json_t *tl = json_object_get(d, "timeline");

	(void)state;
	assert_int_equal(json_array_size(tl), 1);
	assert_string_equal(get(json_array_get(tl, 0), "text"), "📌 U3: look here");
	assert_string_equal(get(json_array_get(tl, 0), "at"), "2026-01-01 10:01:00");
	json_decref(d);
}

/* Text from people and programs stays on one line, valid UTF-8, cut, and
 * a command with backticks gets a wider code span. */
static void test_hostile_text(void **state)
{
	struct rb_buf note;
	char *detail;
	json_t *d;
	const char *t;

	(void)state;
	rb_buf_init(&note, 1u << 16);
	assert_int_equal(rb_buf_puts(&note, "{\"note\":\"line one\\nline\\ttwo "), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(rb_buf_puts(&note, "é"), 0);
	assert_int_equal(rb_buf_puts(&note, "\",\"was\":\"failed\"}"), 0);
	detail = rb_buf_steal(&note);
	{
		const struct report_row rows[] = {
			{ "2026-01-01T10:00:01.000Z", "U1", "command_run",
			  "{\"step\":0,\"command\":\"echo `id` ``x``\",\"exit_status\":\"1\","
			  "\"duration_ms\":\"20\",\"output\":\"a\\nlast `line`\\n\\n\"}" },
			{ "2026-01-01T10:00:02.000Z", "U1\n# hi", "resolved_by_hand", detail },
		};
		d = one_incident(rows, RB_ARRAY_LEN(rows));
	}
	t = timeline_find(d, "step 1", NULL);
	assert_string_equal(t, "step 1 ``` echo `id` ``x`` ```: exit status 1 in 20 ms; last "
			       "output: `` last `line` ``");
	t = timeline_find(d, "resolved by hand", NULL);
	assert_non_null(t);
	assert_null(strchr(t, '\n'));
	assert_non_null(strstr(t, "by U1 # hi: line one line two éé"));
	assert_int_equal(strlen(strstr(t, ": line one")) - 2,
			 strlen("line one line two ") + 2 * (200 - 18) + strlen("…"));
	free(detail);
	json_decref(d);
}

/* Rows the report cannot read still do no harm: a bad time takes the row
 * before's, a detail that is not JSON is empty, NULLs read as "". */
static void test_unreadable_rows(void **state)
{
	const struct report_row rows[] = {
		{ "2026-01-01T10:00:05.000Z", "U1", "state_change", "{\"to\":\"declared\"}" },
		{ "yesterday", "rollbot", "plan_failed", "not json" },
		{ NULL, NULL, NULL, NULL },
		{ "2026-01-01T10:00:01.000Z", "rollbot", "kind_from_the_future",
		  "{\"x\":\"\\u00ff\"}" },
		{ "2026-01-01T10:00:06.000Z", "rollbot", "plan_failed", "[1,2]" },
	};
	struct report_incident inc = { 0 };
	json_t *d = report_data(&inc, rows, RB_ARRAY_LEN(rows));
	json_t *tl = json_object_get(d, "timeline");

	(void)state;
	assert_int_equal(json_array_size(tl), 4);
	assert_string_equal(get(json_array_get(tl, 0), "text"), "kind from the future (rollbot)");
	assert_string_equal(get(json_array_get(tl, 1), "text"), "incident declared");
	assert_string_equal(get(json_array_get(tl, 2), "text"),
			    "cannot plan the rollback: no reason given");
	assert_string_equal(get(json_array_get(tl, 2), "at"), "2026-01-01 10:00:05");
	assert_string_equal(get(d, "outcome"), "unknown");
	json_decref(d);
	d = report_data(&inc, NULL, 0);
	assert_string_equal(get(d, "date"), "1970-01-01");
	json_decref(d);
}

/* Rows for one_incident: every detail written with ' for ". */
static json_t *incident_of(const char *state, bool with_db, const struct fx_row *fx, size_t n)
{
	struct report_incident inc = { .id = "INC-2026-0099",
				       .service = "svc",
				       .severity = "P1",
				       .state = state,
				       .reason = "bad release",
				       .target = "41",
				       .method = "kubectl",
				       .requested_by = "U1",
				       .channel = "C1",
				       .created_at = "2026-01-01T10:00:00.000Z",
				       .ended_at = "2026-01-01T10:09:00.000Z",
				       .closed_by = "",
				       .with_db = with_db };
	struct fixture f = { "adhoc", inc, fx, n, NULL };

	return fixture_data(&f);
}

#define START_ROWS                                                     \
	{ "2026-01-01T10:00:00.000Z", "rollbot", "state_change",       \
	  "{'from':null,'to':'declared'}" },                           \
		{ "2026-01-01T10:00:01.000Z", "rollbot", "plan_ready", \
		  "{'target':'41','steps':'2'}" },                     \
	{                                                              \
		"2026-01-01T10:00:01.000Z", "rollbot", "state_change", \
			"{'from':'declared','to':'awaiting_approval'}" \
	}

static void test_outcome_step_failed(void **state)
{
	static const struct fx_row rows[] = {
		START_ROWS,
		{ "2026-01-01T10:01:00.000Z", "U2", "reaction_added",
		  "{'decision':'approval_counted'}" },
		{ "2026-01-01T10:01:00.000Z", "rollbot", "state_change",
		  "{'from':'awaiting_approval','to':'approved'}" },
		{ "2026-01-01T10:01:01.000Z", "rollbot", "state_change",
		  "{'from':'approved','to':'rolling_back'}" },
		{ "2026-01-01T10:06:01.000Z", "rollbot", "command_run",
		  "{'step':0,'command':'kubectl rollout undo deployment/x','exit_status':'1',"
		  "'timed_out':true,'duration_ms':'300000','output':"
		  "'waiting\\nstill waiting\\n'}" },
		{ "2026-01-01T10:06:01.000Z", "rollbot", "state_change",
		  "{'from':'rolling_back','to':'failed'}" },
	};
	json_t *d = incident_of("failed", true, rows, RB_ARRAY_LEN(rows));

	(void)state;
	assert_string_equal(get(d, "outcome"),
			    "failed: step 1 of 2 did not succeed (timed out after 5 min 00 s and "
			    "was killed)");
	assert_string_equal(get(d, "rollback_summary.executed"),
			    "Yes, but step 1 of 2 did not succeed");
	assert_string_equal(get(d, "rollback_summary.duration"), "5 min 00 s");
	assert_string_equal(
		timeline_find(d, "step 1", NULL),
		"step 1 `kubectl rollout undo deployment/x`: timed out after 5 min 00 s "
		"and was killed; last output: `still waiting`");
	assert_non_null(timeline_find(d, "failed: step 1 of 2 did not succeed", NULL));
	/* --with-db and something ran: the data loss line is not left to guess. */
	assert_true(json_is_true(json_object_get(json_object_get(d, "impact"), "has_data_loss")));
	assert_string_equal(get(d, "impact.data_loss"),
			    "a database down-migration ran: check for lost writes");
	assert_string_equal(get(d, "resolution.text"),
			    "Not rolled back: step 1 of 2 did not succeed (timed out after 5 min "
			    "00 s and was killed). The service may be between versions: check it "
			    "before acting.");
	json_decref(d);
}

static void test_outcome_rejected_and_expired(void **state)
{
	static const struct fx_row rejected[] = {
		START_ROWS,
		{ "2026-01-01T10:01:00.000Z", "U2", "reaction_added",
		  "{'decision':'approval_counted'}" },
		{ "2026-01-01T10:02:00.000Z", "U3", "reaction_added",
		  "{'decision':'rejection_counted'}" },
		{ "2026-01-01T10:02:00.000Z", "rollbot", "state_change",
		  "{'from':'awaiting_approval','to':'rejected'}" },
	};
	static const struct fx_row expired[] = {
		START_ROWS,
		{ "2026-01-01T10:30:01.000Z", "rollbot", "state_change",
		  "{'from':'awaiting_approval','to':'expired'}" },
	};
	json_t *d = incident_of("rejected", true, rejected, RB_ARRAY_LEN(rejected));

	(void)state;
	assert_string_equal(get(d, "outcome"), "rejected by U3");
	assert_string_equal(get(d, "approved_by"), "nobody (rejected by U3)");
	assert_string_equal(get(d, "rollback_summary.success"),
			    "No: rejected by U3, nothing was run");
	assert_string_equal(get(d, "rollback_summary.executed"), "No");
	assert_non_null(strstr(get(d, "summary"), "U3 rejected it, so nothing was run."));
	/* --with-db, but nothing ran: data loss is for people to say. */
	assert_true(json_is_false(json_object_get(json_object_get(d, "impact"), "has_data_loss")));
	assert_non_null(timeline_find(d, "❌ rejection by U3", NULL));
	json_decref(d);
	d = incident_of("expired", false, expired, RB_ARRAY_LEN(expired));
	assert_string_equal(get(d, "outcome"), "expired: no decision within the approval window");
	assert_non_null(timeline_find(d, "approval request expired with no decision", NULL));
	assert_string_equal(get(d, "resolution.text"),
			    "None: nothing was run (expired: no decision within the approval "
			    "window).");
	json_decref(d);
}

/* A restart in the middle of a step: the step is marked, the approval is
 * asked again, and approvals given for the first request no longer count. */
static void test_restart_during_a_step(void **state)
{
	static const struct fx_row rows[] = {
		START_ROWS,
		{ "2026-01-01T10:01:00.000Z", "U2", "reaction_added",
		  "{'decision':'approval_counted'}" },
		{ "2026-01-01T10:01:00.000Z", "rollbot", "state_change",
		  "{'from':'awaiting_approval','to':'approved'}" },
		{ "2026-01-01T10:01:01.000Z", "rollbot", "state_change",
		  "{'from':'approved','to':'rolling_back'}" },
		{ "2026-01-01T10:03:00.000Z", "rollbot", "resumed", "{'state':'rolling_back'}" },
		{ "2026-01-01T10:03:00.000Z", "rollbot", "step_interrupted", "{'step':'1'}" },
		{ "2026-01-01T10:03:02.000Z", "rollbot", "status_checked",
		  "{'ok':'false','output':'Waiting for rollout to finish\\n'}" },
		{ "2026-01-01T10:03:02.000Z", "rollbot", "state_change",
		  "{'from':'rolling_back','to':'awaiting_approval'}" },
		{ "2026-01-01T10:04:00.000Z", "U4", "reaction_added",
		  "{'decision':'approval_counted'}" },
		{ "2026-01-01T10:04:00.000Z", "rollbot", "state_change",
		  "{'from':'awaiting_approval','to':'approved'}" },
		{ "2026-01-01T10:04:10.000Z", "rollbot", "plan_changed",
		  "{'approved_digest':'1','digest':'2'}" },
		{ "2026-01-01T10:05:00.000Z", "rollbot", "report_failed",
		  "{'step':'files.getUploadURLExternal','error':'ratelimited'}" },
		{ "2026-01-01T10:05:00.000Z", "rollbot", "draft_posted",
		  "{'draft':'draft_internal'}" },
	};
	json_t *d = incident_of("awaiting_approval", false, rows, RB_ARRAY_LEN(rows));

	(void)state;
	assert_non_null(timeline_find(d, "rollbot restarted (was rolling back)", NULL));
	assert_non_null(timeline_find(d, "step 1 interrupted by the restart", NULL));
	assert_string_equal(timeline_find(d, "status command", NULL),
			    "status command after the restart: failed, `Waiting for rollout to "
			    "finish`");
	assert_non_null(timeline_find(d, "approval requested again", NULL));
	assert_non_null(timeline_find(d, "⚠️ the plan changed after it was approved", NULL));
	assert_string_equal(get(d, "approved_by"), "U2, U4");
	assert_non_null(timeline_find(d,
				      "⚠️ could not post the incident report: "
				      "files.getUploadURLExternal failed: ratelimited",
				      NULL));
	assert_null(timeline_find(d, "draft", NULL));
	assert_string_equal(get(d, "outcome"), "ongoing (awaiting approval)");
	json_decref(d);
}

static void test_render_error(void **state)
{
	char err[RB_ERR_LEN] = "";
	json_t *d = json_object();
	char *s;

	(void)state;
	assert_null(report_render("{{#open}}never closed", d, err, sizeof err));
	assert_true(err[0] != '\0');
	json_decref(d);
	/* Slack escaping for the drafts' {{x}}, none for the report's {{{x}}}. */
	d = json_pack("{s:s}", "x", "<&>");
	s = report_render("{{x}} {{{x}}}", d, err, sizeof err);
	assert_string_equal(s, "&lt;&amp;&gt; <&>");
	free(s);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_p1_resolved),
		cmocka_unit_test(test_golden_p0_skipped),
		cmocka_unit_test(test_golden_verify_failed),
		cmocka_unit_test(test_golden_cancelled),
		cmocka_unit_test(test_golden_midnight),
		cmocka_unit_test(test_golden_drafts),
		cmocka_unit_test(test_templates_parse),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_duration_small_buffer),
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_golden_berlin),
		cmocka_unit_test(test_local_clock),
		cmocka_unit_test(test_down),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_time_boundaries),
		cmocka_unit_test(test_parse_time_refuses),
		cmocka_unit_test(test_data_fields),
		cmocka_unit_test(test_escalation_row_names),
		cmocka_unit_test(test_data_facts),
		cmocka_unit_test(test_data_midnight),
		cmocka_unit_test(test_data_ongoing),
		cmocka_unit_test(test_pin_unpin_pin),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_unreadable_rows),
		cmocka_unit_test(test_outcome_step_failed),
		cmocka_unit_test(test_outcome_rejected_and_expired),
		cmocka_unit_test(test_restart_during_a_step),
		cmocka_unit_test(test_render_error),
	};
	int failed = cmocka_run_group_tests_name("report", tests, NULL, NULL);

	return failed ? 1 : 0;
}
