package main

import (
	"regexp"
	"strings"
)

// packagePrefix is a Go package's name where it opens an error's text or
// one of its wrapped parts ("middleware: ", "timchat: "): in the SDK they
// say which layer spoke; on a command line they only stack up.
var packagePrefix = regexp.MustCompile(`(^|: )(?:middleware|wecom|timchat|dingtalk|feishu|accounturl|outbox|redisstate): `)

// sdkWords turns the SDK's names in an error into the command line's: the
// option or field a Go caller sets becomes the flag a shell user gives.
// The longer phrases come first, so that their words are not replaced
// one by one.
var sdkWords = strings.NewReplacer(
	"no groupCode or userID (use timchat.Broadcast to push to all users)", "no --group or --user: TIM needs one",
	"set Item.Cover, or add timchat.Thumbnail(source)", "give --cover",
	"VisibleTo needs exactly one group in groupCode", "--visible-to needs exactly one --group",
	"PostID needs exactly one blackboard chatid in groupCode", "a post id needs exactly one --group",
	"leave groupCode empty", "leave --group empty",
	"leave groupCode and userID empty", "leave --group and --user empty",
	"give the client an app with WithApp(appID, appSecret)", "add app_id= and app_secret= to the account URL",
	"WithFilename/WithMIME name one media item", "--name and --mime name one media item",
	"set Item.Name and Item.MIME instead", "name the items one by one",
	"groupCode", "--group",
	"userID", "--user",
)

// say is an error as a shell user reads it: one "imbridge:" in front (the
// caller's), no package names stacked behind it, the SDK's option names
// as the command line's flags, and every control character visible.
func say(err error) string {
	return visible(sdkWords.Replace(packagePrefix.ReplaceAllString(err.Error(), "$1")))
}
