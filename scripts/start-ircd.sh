#!/usr/bin/env bash
# Start a throwaway InspIRCd 3 on 127.0.0.1:${IRC_PORT:-16667} (plain, flood limits off) and,
# unless IRC_SERVICES=none, Atheme services (NickServ + SaslServ, SASL PLAIN) linked on
# 127.0.0.1:${IRC_LINK_PORT:-17000}. Server name irc.localhost, oper admin/adminpass.
# Usage: start-ircd.sh DATA_DIR
# Prints "IRCD_PID [ATHEME_PID]"; records "PID DATA_DIR" in ${FERRYBRIDGE_RUN:-.run}/pids/{inspircd,atheme}.pid.
# Optional extra client ports: IRC_TLS_PORT (TLS with a fresh certificate for irc.localhost /
# 127.0.0.1 from a throwaway CA, whose certificate is DATA_DIR/tls-ca.crt) and IRC_PASS_PORT (clients there must
# send `PASS $IRC_PASS`; a wrong or missing one is refused). TLS clients are asked for a
# certificate (CertFP: its SHA-256 goes to Atheme, which takes SASL EXTERNAL and NickServ CERT;
# Atheme logs services commands and logins, e.g. "LOGIN (EXTERNAL)", to DATA_DIR/atheme/atheme.log).
# IRC_IDENT=yes looks up every client's ident (RFC 1413) on port 113 of its address.
# Env: IRC_PORT, IRC_LINK_PORT, IRC_LINK_PASS, IRC_SERVICES (atheme|none), IRC_TLS_PORT,
#      IRC_PASS_PORT, IRC_PASS, IRC_IDENT, FERRYBRIDGE_RUN.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUN="$FB_RUN"
PORT="${IRC_PORT:-16667}"
LPORT="${IRC_LINK_PORT:-17000}"
LPASS="${IRC_LINK_PASS:-ferrybridge-linkpass}"
SERVICES="${IRC_SERVICES:-atheme}"
DATA="${1:?usage: $0 DATA_DIR}"
mkdir -p "$DATA/atheme" "$RUN/pids"
DATA="$(cd "$DATA" && pwd)"
fb_refuse_busy "$PORT" "$LPORT" ${IRC_TLS_PORT:-} ${IRC_PASS_PORT:-}

RL='threshold="1000000" commandrate="1000000" fakelag="no" localmax="100000" globalmax="100000" limit="100000"'

# Extra client ports. The open connect class is limited to the plain and TLS ports, so a client
# on the password port that fails the password matches no class and is refused.
EXTRA=""
OPEN_PORTS="$PORT"
if [ -n "${IRC_TLS_PORT:-}" ]; then
  # A throwaway CA and a server certificate it signs (TLS clients refuse a CA certificate
  # used as the server's own).
  EC="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  openssl req -x509 $EC -days 2 -subj "/CN=ferrybridge test CA" \
    -keyout "$DATA/tls-ca.key" -out "$DATA/tls-ca.crt" >/dev/null 2>&1
  openssl req $EC -subj "/CN=irc.localhost" -keyout "$DATA/tls.key" -out "$DATA/tls.csr" >/dev/null 2>&1
  printf 'subjectAltName=DNS:irc.localhost,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$DATA/tls.ext"
  openssl x509 -req -in "$DATA/tls.csr" -CA "$DATA/tls-ca.crt" -CAkey "$DATA/tls-ca.key" \
    -CAcreateserial -days 2 -extfile "$DATA/tls.ext" -out "$DATA/tls.crt" >/dev/null 2>&1
  EXTRA+="<module name=\"ssl_gnutls\"><module name=\"sslinfo\">
<sslprofile name=\"clients\" provider=\"gnutls\" certfile=\"$DATA/tls.crt\" keyfile=\"$DATA/tls.key\" dhfile=\"\" hash=\"sha256\" requestclientcert=\"yes\">
<bind address=\"127.0.0.1\" port=\"$IRC_TLS_PORT\" type=\"clients\" sslprofile=\"clients\">
"
  OPEN_PORTS+=",$IRC_TLS_PORT"
fi
if [ -n "${IRC_PASS_PORT:-}" ]; then
  EXTRA+="<bind address=\"127.0.0.1\" port=\"$IRC_PASS_PORT\" type=\"clients\">
<connect name=\"passworded\" allow=\"*\" port=\"$IRC_PASS_PORT\" password=\"${IRC_PASS:?IRC_PASS is needed with IRC_PASS_PORT}\" hash=\"plaintext\" maxchans=\"1000\" timeout=\"60\" pingfreq=\"120\" hardsendq=\"16M\" softsendq=\"1M\" recvq=\"1M\" resolvehostnames=\"no\" useident=\"no\" usednsbl=\"no\" $RL>
"
fi

USEIDENT="no"
if [ "${IRC_IDENT:-}" = yes ]; then
  EXTRA+="<module name=\"ident\"><ident timeout=\"5\">
"
  USEIDENT="yes"
fi

echo "ferrybridge test ircd" > "$DATA/motd.txt"
cat > "$DATA/inspircd.conf" <<EOF
<config format="xml">
<server name="irc.localhost" description="ferrybridge test ircd" id="001" network="FerryNet">
<admin name="ferrybridge" nick="ferrybridge" email="ferrybridge@localhost">
<path configdir="$DATA" datadir="$DATA" logdir="$DATA" runtimedir="$DATA" moduledir="/usr/lib/inspircd/modules">
<bind address="127.0.0.1" port="$PORT" type="clients">
<bind address="127.0.0.1" port="$LPORT" type="servers">
$EXTRA<connect name="local" allow="*" port="$OPEN_PORTS" maxchans="1000" timeout="60" pingfreq="120" hardsendq="16M" softsendq="1M" recvq="1M"
         resolvehostnames="no" useident="$USEIDENT" usednsbl="no" $RL>
<class name="All" commands="*" privs="*" usermodes="*" chanmodes="*" snomasks="*">
<type name="NetAdmin" classes="All" host="netadmin.localhost">
<oper name="admin" password="adminpass" host="*@*" type="NetAdmin">
<files motd="$DATA/motd.txt">
<dns server="127.0.0.1" timeout="1">
<pid file="$DATA/inspircd.pid">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" exemptchanops="">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="100">
<performance quietbursts="yes" softlimit="10240" somaxconn="128" netbuffersize="10240">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$DATA/inspircd.log">
<module name="cap"><module name="ircv3"><module name="ircv3_capnotify"><module name="ircv3_accounttag">
<module name="ircv3_servertime"><module name="ircv3_msgid"><module name="ircv3_echomessage"><module name="ircv3_batch">
<module name="ircv3_labeledresponse"><module name="ircv3_ctctags"><module name="ircv3_chghost">
<module name="namesx"><module name="uhnames"><module name="chghost"><module name="sethost"><module name="setname">
<module name="spanningtree"><module name="services_account"><module name="sasl"><module name="svshold"><module name="globops">
<link name="services.localhost" ipaddr="127.0.0.1" port="$LPORT" allowmask="127.0.0.0/8" sendpass="$LPASS" recvpass="$LPASS" timeout="60">
<uline server="services.localhost" silent="yes">
<sasl target="services.localhost" requiressl="no">
EOF

cat > "$DATA/atheme.conf" <<EOF
loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main"; loadmodule "modules/nickserv/help"; loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/identify"; loadmodule "modules/nickserv/info"; loadmodule "modules/nickserv/ghost";
loadmodule "modules/nickserv/drop"; loadmodule "modules/nickserv/logout";
loadmodule "modules/saslserv/main"; loadmodule "modules/saslserv/plain";
loadmodule "modules/nickserv/cert"; loadmodule "modules/saslserv/external";
serverinfo {
  name = "services.localhost"; desc = "Atheme IRC Services"; numeric = "00A"; recontime = 2;
  netname = "FerryNet"; hidehostsuffix = "users.ferrybridge"; adminname = "ferrybridge";
  adminemail = "ferrybridge@localhost"; registeremail = "noreply@localhost";
  loglevel = { error; info; admin; network; register; commands; };
  maxlogins = 1000; maxusers = 100000; mdlimit = 30; emaillimit = 100000; emailtime = 1;
  auth = none; casemapping = rfc1459;
};
uplink "irc.localhost" { host = "127.0.0.1"; port = $LPORT; send_password = "$LPASS"; receive_password = "$LPASS"; };
nickserv { nick = "NickServ"; user = "NickServ"; host = "services.localhost"; real = "Nickname Services"; maxnicks = 5; expire = 0; };
saslserv { nick = "SaslServ"; user = "SaslServ"; host = "services.localhost"; real = "SASL Authentication Agent"; };
general {
  flood_msgs = 100000; flood_time = 1; ratelimit_uses = 100000; ratelimit_period = 1;
  kline_time = 7; commit_interval = 1; language = "en"; exempts { };
};
EOF

nohup setsid inspircd --config="$DATA/inspircd.conf" --nofork --runasroot >"$DATA/inspircd.stdout" 2>&1 </dev/null &
IPID=$!
echo "$IPID $DATA" > "$RUN/pids/inspircd.pid"
fb_wait_port "$PORT" 30 "$IPID" || { echo "inspircd failed; see $DATA/inspircd.stdout" >&2; tail -5 "$DATA/inspircd.stdout" >&2; exit 1; }
if [ "$SERVICES" = none ]; then echo "$IPID"; exit 0; fi

nohup setsid atheme-services -n -c "$DATA/atheme.conf" \
  -D "$DATA/atheme" -l "$DATA/atheme/atheme.log" -p "$DATA/atheme/atheme.pid" >"$DATA/atheme.stdout" 2>&1 </dev/null &
APID=$!
echo "$APID $DATA" > "$RUN/pids/atheme.pid"
for _ in $(seq 1 300); do  # wait until the services server has finished its burst
  grep -q "finished synching with uplink" "$DATA/atheme/atheme.log" 2>/dev/null && { echo "$IPID $APID"; exit 0; }
  fb_alive "$APID" || { echo "atheme died; see $DATA/atheme.stdout" >&2; tail -5 "$DATA/atheme.stdout" >&2; exit 1; }
  sleep 0.1
done
echo "atheme did not link within 30 s; see $DATA/inspircd.log $DATA/atheme/atheme.log" >&2; exit 1
