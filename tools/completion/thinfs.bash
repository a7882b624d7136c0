# bash completion for thinfs(8): subcommands, their options, live pools
# (VG/POOL from lvs) and directories for SOURCE, TARGET and MOUNTPOINT.
# Plain bash (compgen), so it works with or without the bash-completion
# package.

_thinfs_pools()
{
	lvs --noheadings -o vg_name,lv_name -S 'segtype=thin-pool' 2>/dev/null |
		awk '{ print $1 "/" $2 }'
}

_thinfs()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd=${COMP_WORDS[1]} opts
	local commands="mount umount ls diff index send receive doctor"

	COMPREPLY=()
	if [[ $COMP_CWORD -eq 1 ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$commands --help --version" -- "$cur")
		return
	fi
	case $prev in
	--index)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	-o)
		mapfile -t COMPREPLY < <(compgen -W "allow_other uid= gid= mode= index= refresh= receive_dir=" -- "$cur")
		return
		;;
	--from | --offset | --warn | --crit) return ;;
	esac
	case $cmd in
	mount) opts="-f -d -o --help" ;;
	umount) opts="--help" ;;
	ls) opts="--json --index --rebuild --help" ;;
	diff) opts="--files --json --stats --index --help" ;;
	index) opts="--rebuild -P --json --index --help" ;;
	send) opts="--from -n -P --offset --help" ;;
	receive) opts="--force --resume --resume-offset -P --help" ;;
	doctor) opts="--json --warn --crit --index --help" ;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	elif [[ $cmd == umount ]]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	elif [[ $cmd == doctor ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_thinfs_pools)" -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -W "$(_thinfs_pools)" -- "$cur"; compgen -d -- "$cur")
	fi
}
complete -o filenames -F _thinfs thinfs
