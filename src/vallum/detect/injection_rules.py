"""Fast rules for prompt injection and jailbreaks, run on every normalised view.

Each rule is a compiled pattern with a finding type and a score. The rules aim
at the *mechanics* of an attack (an override addressed to the model, a fake role
delimiter, a persona that drops its guidelines, a link that carries data out),
not at trigger words: "ignore the rash unless it spreads" or "how do I override
a method in Java" match nothing here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["RuleHit", "scan_rules"]

_I = re.IGNORECASE | re.MULTILINE

INSTRUCTION_OVERRIDE = "INSTRUCTION_OVERRIDE"
JAILBREAK_PERSONA = "JAILBREAK_PERSONA"
PROMPT_EXTRACTION = "PROMPT_EXTRACTION"
ROLE_DELIMITER = "ROLE_DELIMITER"
REFUSAL_SUPPRESSION = "REFUSAL_SUPPRESSION"
MANY_SHOT = "MANY_SHOT"
PAYLOAD_SPLITTING = "PAYLOAD_SPLITTING"
EXFILTRATION_LINK = "EXFILTRATION_LINK"
INDIRECT_INJECTION = "INDIRECT_INJECTION"

_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|initial|original|system|developer|safety|"
    r"former|openai)"
)
_RULESET = (
    r"(?:instructions?|prompts?|rules|directives?|guidelines|commands?|messages?|programming|"
    r"constraints|restrictions|policies|policy|context|orders|guardrails|filters|"
    r"training|limitations|directions|requests|tasks)"
)
# "ignore the previous instructions on the bottle": instructions that are not the model's
_NOT_OURS = (
    r"(?!\s+(?:on|for|from|in|of|printed|written)\s+(?:the|my|your|this|that|a|his|her)\s+"
    r"(?:\w+\s+)?(?:bottle|label|package|packet|leaflet|insert|box|prescription|doctor|"
    r"pharmacist|nurse|manual|recipe|form|website|sign|teacher|boss|manager))"
)

_RULES: tuple[tuple[str, float, re.Pattern[str]], ...] = (
    # --- instruction override ------------------------------------------------------------
    (
        INSTRUCTION_OVERRIDE,
        0.95,
        re.compile(
            r"\b(?:ignore|disregard|forget|override|overrule|bypass|skip|neglect|discard|drop|"
            r"abandon|set aside|throw out|pay no attention to|do not follow|don'?t follow|"
            r"stop following|"
            r"cancel|scrap|void|revoke|nullify|delete|erase|clear)"
            r"\s+(?:(?:all|any|every|each|the|of|your|my|these|those|its|their)\s+){0,4}"
            rf"(?:{_PRIOR}\s+)(?:\w+\s+)?{_RULESET}\b{_NOT_OURS}",
            _I,
        ),
    ),
    (
        INSTRUCTION_OVERRIDE,
        0.9,
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?"
            rf"(?:your|the)\s+{_RULESET}\b(?:\s+(?:you\s+(?:were|have\s+been)\s+given|above|so\s+far))?"
            rf"{_NOT_OURS}",
            _I,
        ),
    ),
    (
        INSTRUCTION_OVERRIDE,
        0.9,
        re.compile(
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:that\s+|what\s+)?"
            r"(?:you\s+(?:were|have\s+been)\s+(?:told|given|instructed)|(?:was\s+)?said\s+(?:above|before))",
            _I,
        ),
    ),
    (
        INSTRUCTION_OVERRIDE,
        0.85,
        re.compile(
            r"\b(?:supersedes?|replaces?|overrides?|cancels?)\s+(?:any|all|every|your)\s+(?:of\s+your\s+)?"
            r"(?:prior|previous|earlier|other|existing|original)\s+(?:guidance|instructions|rules|directions)|"
            r"\b(?:what(?:ever)?|everything|anything)\s+you\s+(?:were|have\s+been)\s+(?:told|given|instructed)"
            r"[^.\n]{0,40}\b(?:no\s+longer\s+appl|does\s+not\s+apply|doesn'?t\s+apply|is\s+void|is\s+cancel)|"
            r"\byou\s+(?:have|had)\s+no\s+(?:prior|previous|other)\s+(?:instructions|rules)|"
            r"\b(?:prior|previous|earlier|all)\s+(?:instructions|rules|context)\s+(?:is|are)\s+"
            r"(?:void|cancel+ed|revoked|obsolete|outdated|null)",
            _I,
        ),
    ),
    (
        INSTRUCTION_OVERRIDE,
        0.85,
        re.compile(
            r"\b(?:your\s+)?new\s+(?:instructions|task|directive|rules|orders)\s+(?:is|are)?\s*:|"
            r"\bfrom\s+now\s+on,?\s+you\s+(?:will|must|are|shall|should)\s+(?:only\s+)?"
            r"(?:ignore|answer|respond|obey|act|follow|be\b|not\b|no\s+longer)",
            _I,
        ),
    ),
    (
        INSTRUCTION_OVERRIDE,
        0.95,
        re.compile(
            # es, fr, de, pt, it, nl, ru, zh, ja
            r"\bignora(?:r)?\s+(?:todas\s+)?(?:las\s+)?(?:instrucciones|indicaciones|reglas)\s+(?:anteriores|previas)|"
            r"\bolvida\s+(?:todas\s+)?(?:las\s+)?instrucciones|"
            r"\b(?:olvida|ignora)\s+todo\s+lo\s+anterior|\btu\s+nueva\s+(?:tarea|misión|instrucción)\s+es|"
            r"\b(?:oublie|ignore)[sz]?\s+tout\s+ce\s+qui\s+précède|\bta\s+nouvelle\s+(?:tâche|mission)\s+est|"
            r"\b(?:vergiss|ignoriere)\s+alles\s+(?:bisherige|vorherige|davor|obige)|\bdeine\s+neue\s+aufgabe\s+ist|"
            r"\b(?:esqueça|ignore)\s+tudo\s+(?:o\s+que\s+foi\s+dito\s+)?(?:antes|acima|anterior)|"
            r"\b(?:dimentica|ignora)\s+tutto\s+(?:quello\s+)?(?:sopra|prima|precedente)|"
            r"(?:забудь|игнорируй)\s+(?:всё|все)\s+(?:что\s+было\s+)?(?:выше|раньше|ранее)|"
            r"\b(?:ignore[zr]?|oublie[zr]?)\s+(?:toutes\s+)?(?:les\s+|vos\s+|tes\s+)?(?:instructions|consignes|règles)"
            r"(?:\s+(?:précédentes|antérieures|initiales))?|"
            r"\b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie)\s+(?:alle\s+)?(?:vorherigen\s+|bisherigen\s+|"
            r"vorangegangenen\s+|deine\s+|ihre\s+)*(?:anweisungen|instruktionen|regeln|befehle)|"
            r"\b(?:ignore|esqueça)\s+(?:todas\s+)?(?:as\s+)?(?:instruções|regras)\s+(?:anteriores|prévias)|"
            r"\b(?:ignora|dimentica)\s+(?:tutte\s+)?(?:le\s+)?(?:istruzioni|regole)\s+(?:precedenti)|"
            r"\b(?:negeer|vergeet)\s+(?:alle\s+)?(?:vorige|eerdere)\s+(?:instructies|regels)|"
            r"(?:игнорируй|игнорируйте|забудь|забудьте)\s+(?:все\s+)?(?:предыдущие\s+|прежние\s+)?(?:инструкции|указания|правила)|"
            r"(?:忽略|无视|忘记|忘掉)(?:掉)?(?:你)?(?:之前|以上|先前|上面|前面|所有)的?(?:所有)?(?:的)?(?:指令|指示|说明|规则|提示)|"
            r"(?:以前|前|上記)の(?:指示|命令|ルール)を(?:すべて)?(?:無視|忘れ)",
            _I,
        ),
    ),
    # --- persona jailbreaks ---------------------------------------------------------------
    (
        JAILBREAK_PERSONA,
        0.95,
        re.compile(
            r"\bdo\s+anything\s+now\b|\bDAN\s+mode\b|\bdeveloper\s+mode\s+(?:enabled|output)\b|"
            r"\bdeveloper\s+mode\s+(?:is\s+)?(?:now\s+)?(?:on|activated|engaged)\s*[.!:]|"
            r"\bjailbr(?:eak|oken)\s+(?:mode|version|ai|response)\b|"
            r"\b(?:STAN|DUDE|AIM|UCAR|BetterDAN|AntiGPT|Maximum|APOPHIS|BasedGPT)\b.{0,80}"
            r"\b(?:no\s+(?:filters?|restrictions|rules|limits|ethics|morals)|unfiltered|amoral|"
            r"strive\s+to\s+avoid\s+norms|always\s+intelligent\s+and\s+machiavellian)",
            _I | re.DOTALL,
        ),
    ),
    (
        JAILBREAK_PERSONA,
        0.9,
        re.compile(
            r"\b(?:you\s+are|you'?re|act\s+as|pretend\s+(?:to\s+be|you\s+are)|roleplay\s+as|"
            r"role-play\s+as|play\s+the\s+role\s+of|become|simulate|behave\s+like|respond\s+as)\s+"
            r"(?:now\s+)?(?:an?\s+|the\s+)?(?:[\w'\u2019,-]+\s+){0,5}"
            r"(?:ai|assistant|chatbot|bot|model|llm|gpt|persona|character|entity|version)\b[^.\n]{0,120}?"
            r"\b(?:without\s+(?:any\s+)?(?:restrictions|limits|limitations|filters|rules|guidelines|"
            r"ethics|morals|censorship|boundaries)|(?:has|have|with)\s+no\s+(?:restrictions|limits|"
            r"limitations|filters|rules|guidelines|ethic\w*|moral\w*|censorship|boundaries|"
            r"programming\s+guidelines|content\s+polic\w+)|"
            r"(?:is|are)\s+(?:completely\s+)?(?:unfiltered|uncensored|unrestricted|amoral|immoral|unethical)|"
            r"not\s+bound\s+by|free\s+from\s+(?:all\s+)?(?:restrictions|rules|guidelines|constraints))",
            _I,
        ),
    ),
    (
        JAILBREAK_PERSONA,
        0.85,
        re.compile(
            r"\b(?:stay|remain|keep)\s+in\s+character\b.{0,200}\b(?:no\s+matter|even\s+if|whatever|"
            r"regardless|always|never\s+break)|"
            r"\b(?:break(?:ing)?\s+free|freed)\s+(?:of|from)\s+(?:the\s+)?(?:typical\s+)?"
            r"(?:confines|restrictions|rules|shackles|limitations)|"
            r"\b(?:broken|break)\s+(?:free\s+)?(?:out\s+of\s+)?(?:your|its|the)\s+"
            r"(?:chains|confines|shackles|jail)\b|"
            r"\b(?:unfiltered|uncensored|unrestricted)\s+(?:ai|assistant|model|chatbot|llm|persona)\b|"
            r"\b(?:where|when|whenever)\s+you\s+would\s+(?:normally\s+)?(?:refuse|decline)\b|"
            r"\b(?:never|doesn'?t|does\s+not|will\s+not|won'?t)\s+(?:ever\s+)?(?:refuses?|decline|say\s+no)\b"
            r"[^.\n]{0,60}\b(?:any|every|all|anything)\b|"
            r"\b(?:two|2|both)\s+(?:different\s+)?(?:responses|answers|paragraphs)\b.{0,200}"
            r"\b(?:normal|classic|standard)\b.{0,200}\b(?:jailbr\w+|developer|unfiltered|dan|evil|opposite)\b",
            _I | re.DOTALL,
        ),
    ),
    (
        JAILBREAK_PERSONA,
        0.85,
        re.compile(
            r"\b(?:without|no|free\s+of|ignoring)\s+(?:any\s+)?(?:ethical|moral|legal|content|safety)\s+"
            r"(?:or\s+(?:moral|ethical|legal)\s+)?(?:restrictions|constraints|guidelines|limits|"
            r"limitations|considerations|boundaries|filters|policies|concerns)\b"
            r".{0,200}\b(?:answer|respond|reply|provide|generate|write|tell|say|output)",
            _I | re.DOTALL,
        ),
    ),
    (
        JAILBREAK_PERSONA,
        0.9,
        re.compile(
            r"\b(?:actúa|actua|finge|eres\s+ahora)\b.{0,80}\bsin\s+(?:ninguna\s+)?(?:restricciones|filtros|"
            r"reglas|límites|censura)|"
            r"\b(?:agis|fais\s+semblant|tu\s+es\s+maintenant)\b.{0,80}\bsans\s+(?:aucune\s+)?(?:restriction|"
            r"filtre|règle|limite|censure)|"
            r"\b(?:tu\s+so\s+als|spiele|du\s+bist\s+(?:jetzt\s+|nun\s+)?)\b.{0,80}\bohne\s+(?:jegliche\s+)?"
            r"(?:einschränkungen|filter|regeln|grenzen|zensur)|"
            r"\b(?:aja|finja|você\s+é\s+agora)\b.{0,80}\bsem\s+(?:nenhuma\s+)?(?:restrições|filtros|regras|censura)|"
            r"\b(?:agisci|fingi|ora\s+sei)\b.{0,80}\bsenza\s+(?:alcuna\s+|alcun\s+)?(?:restrizioni|filtri|"
            r"regole|limiti|censura)|"
            r"(?:без\s+(?:каких-либо\s+)?(?:ограничений|фильтров|цензуры|правил))|"
            r"(?:没有任何|不受任何|无任何)(?:限制|约束|过滤|审查)",
            _I | re.DOTALL,
        ),
    ),
    # --- system prompt extraction ---------------------------------------------------------
    (
        PROMPT_EXTRACTION,
        0.9,
        re.compile(
            r"\b(?:repeat|print|show|reveal|output|display|tell|give|write|list|share|disclose|leak|"
            r"dump|return|recite|spell\s+out|copy|paste|quote|translate|summari[sz]e|what\s+(?:is|are|were|was))"
            r"\s+(?:me\s+|us\s+|back\s+)?(?:out\s+)?(?:all\s+|exactly\s+|verbatim\s+)?(?:of\s+)?"
            r"(?:your|the|its|this\s+(?:ai'?s|bot'?s|assistant'?s))\s+(?:full\s+|entire\s+|complete\s+|exact\s+|"
            r"original\s+|initial\s+|hidden\s+|secret\s+|internal\s+|confidential\s+|very\s+first\s+|first\s+)*"
            r"(?:system\s+(?:prompt|message|instructions?)|(?:initial|original|hidden|secret|internal|"
            r"pre-?prompt|developer)\s+(?:prompt|instructions?|message|rules)|prompt\b(?!\s+engineering)|"
            r"instructions\s+(?:you\s+(?:were|have\s+been)\s+given|above)|"
            r"(?:configuration|guidelines|rules)\s+(?:you\s+(?:were|are)\s+given|you\s+follow))",
            _I,
        ),
    ),
    (
        PROMPT_EXTRACTION,
        0.85,
        re.compile(
            r"\b(?:repeat|print|output|copy|reproduce|echo)\s+(?:back\s+)?(?:all\s+|everything\s+|"
            r"the\s+(?:text|words|content|message)s?\s+)?(?:above|before\s+this|preceding)|"
            r"\b(?:repeat|output|print)\s+(?:the\s+)?(?:words|text)\s+above|"
            r"\b(?:what|which)\s+(?:rules|instructions|guidelines|directives)\s+(?:were|have)\s+you\s+"
            r"(?:been\s+)?(?:given|told|programmed\s+with)|"
            r"\b(?:see|view|read|access|get|know|have)\s+(?:the|your)\s+(?:full\s+|exact\s+|hidden\s+)?"
            r"(?:system\s+prompt|system\s+message|initial\s+instructions|hidden\s+instructions)|"
            r"\b(?:what\s+(?:were|was)\s+you\s+told|instructions?\s+you\s+(?:were|have\s+been)\s+given)\s+"
            r"(?:before|at\s+the\s+(?:start|beginning))|"
            r"\bbeginning\s+of\s+(?:this|the|our)\s+(?:conversation|chat|session)\b.{0,60}\b(?:instructions|"
            r"said|text|prompt|message)|"
            r"\b(?:muestra|revela|repite)\s+(?:tu|el|las)\s+(?:prompt|instrucciones)\s*(?:del\s+sistema|iniciales)?|"
            r"\b(?:affiche|révèle|répète)\s+(?:ton|le|tes|les)\s+(?:prompt|instructions)\s*(?:système|initiales)?|"
            r"\b(?:zeige|verrate|wiederhole)\s+(?:mir\s+)?(?:deinen|den|deine)\s+(?:system-?prompt|anweisungen)|"
            r"(?:покажи|выведи|повтори)\s+(?:свой|свои|системный)\s+(?:промпт|инструкции|prompt)|"
            r"(?:显示|输出|重复|告诉我)(?:你的)?(?:系统提示|系统指令|初始指令|提示词)",
            _I | re.DOTALL,
        ),
    ),
    # --- fake role delimiters ---------------------------------------------------------------
    (
        ROLE_DELIMITER,
        0.9,
        re.compile(
            r"<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\|>|"
            r"\[/?INST\]|<<\s*/?SYS\s*>>|</?(?:system|sys|system_prompt|instructions?)\s*>|"
            r"^\s*#{2,4}\s*(?:system|instruction|new\s+instructions?)s?\s*:?\s*$|"
            r"^\s*(?:\[|\()?(?:system|sys)\s*(?:message|prompt|override|notice|update)?(?:\]|\))?\s*:\s*(?:you|ignore|"
            r"new|from\s+now|the\s+(?:assistant|ai|user)|override|all\s+(?:previous|prior))|"
            r"\b(?:end\s+of\s+(?:user\s+input|system\s+prompt|conversation|prompt)|begin\s+(?:system|admin)"
            r"\s+(?:prompt|instructions?|override))\b",
            _I,
        ),
    ),
    # --- refusal suppression ------------------------------------------------------------------
    (
        REFUSAL_SUPPRESSION,
        0.85,
        re.compile(
            r"\b(?:do\s+not|don'?t|never|must\s+not|cannot|can'?t|will\s+not|won'?t|shall\s+not)\s+"
            r"(?:ever\s+)?(?:refuse|decline|apologi[sz]e|say\s+(?:that\s+)?(?:you\s+)?(?:can'?t|cannot|"
            r"are\s+unable|won'?t)|say\s+(?:no|sorry)|reject|warn\s+me|include\s+(?:any\s+)?(?:warnings?|"
            r"disclaimers?|caveats|moral)|add\s+(?:any\s+)?(?:warnings?|disclaimers?)|mention\s+(?:ethics|"
            r"legality|that\s+you\s+are\s+an\s+ai)|break\s+character)|"
            r"\b(?:start|begin)\s+(?:your\s+)?(?:reply|response|answer|output)\s+with\s+[\"'“]?\s*"
            r"(?:sure|absolutely|of\s+course|certainly|here\s+is)|"
            r"\b(?:not\s+(?:allowed|permitted)|forbidden|prohibited)\s+to\s+(?:say|refuse|decline|"
            r"apologi[sz]e|add\s+(?:warnings?|disclaimers?))|"
            r"\bno\s+(?:safety|ethical|moral|legal)\s+(?:notes?|warnings?|disclaimers?|lectures?|caveats)|"
            r"\bwithout\s+(?:any\s+)?(?:warnings?|disclaimers?|caveats|refusals?|censorship|moraliz\w+)"
            r"(?:\s+(?:or|and)\s+\w+)?\s*[,.]",
            _I,
        ),
    ),
    # --- exfiltration links -----------------------------------------------------------------
    (
        EXFILTRATION_LINK,
        0.9,
        re.compile(
            r"!?\[[^\]\n]{0,200}\]\(\s*(?:https?:)?//[^)\s]+[?#/&=][^)\s]*"
            r"(?:\{[^}]*\}|\[[A-Z_ ]+\]|%7B|\$\w+|<[a-z_]+>|"
            r"(?:data|q|d|p|secret|token|key|password|history|chat|conv\w*|prompt|msg|info|leak|payload|c|s)=(?:\{|\[|<|\$|%7B|\.\.\.|"
            r"[A-Za-z0-9+/=_-]{24,}))|"
            r"<img\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+\?[^\"'\s>]*(?:\{|%7B|\[|\$|<|"
            r"=[A-Za-z0-9+/=_-]{24,})|"
            r"\b(?:append|add|include|put|insert|encode|embed)\b[^.\n]{0,80}\b(?:to|in|into)\s+(?:the\s+)?"
            r"(?:url|link|image\s+(?:url|link|source)|query\s+(?:string|parameter))\b|"
            r"\b(?:render|display|show|output)\b[^.\n]{0,40}\b(?:markdown\s+)?image\b[^.\n]{0,80}"
            r"\b(?:conversation|chat\s+history|previous\s+messages|user'?s?\s+(?:data|details|info\w*)|"
            r"system\s+prompt|password|secret|api\s+key)",
            _I,
        ),
    ),
    # --- indirect injection -------------------------------------------------------------------
    (
        INDIRECT_INJECTION,
        0.9,
        re.compile(
            r"\b(?:note|message|instructions?|attention|important|notice|p\.?s\.?)\s+(?:to|for)\s+"
            r"(?:the\s+|any\s+|all\s+)?(?:ai|a\.i\.|assistant|chatbot|bot|llm|language\s+model|gpt|claude|"
            r"copilot|agent|summari[sz]er|model|automated\s+(?:reader|system|agent|assistant|tool))s?\b|"
            r"\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|"
            r"assistant|chatbot|bot|gpt|automated\s+(?:system|agent))\b[^.\n]{0,40}"
            r"(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|,)|"
            r"\b(?:dear|hey|hi|attention|hello)\s+(?:ai|assistant|chatbot|llm|gpt|claude|copilot|bot)\b\s*[,:!]|"
            r"\b(?:ai|assistant|chatbot|llm|language\s+model|agent)s?\s+(?:reading|processing|summari[sz]ing)\s+"
            r"(?:this|these)\b|"
            r"\bwhen\s+(?:you\s+)?(?:summari[sz]e|summari[sz]ing|process|processing|read|reading|answer\w*)\s+"
            r"(?:this|the)\s+(?:email|e-mail|document|page|file|message|text|review|website|article|"
            r"content|results?)\b[^.\n]{0,30},?\s*(?:you\s+(?:must|should|will)|please\s+)?"
            r"(?:ignore|instead|also|first|always|do\s+not|don'?t|forward|send|tell|include|append|"
            r"respond|reply|say|output|recommend|insert|add)|"
            r"<!--[^>]{0,400}\b(?:ignore|assistant|ai\b|instructions?|system|prompt|you\s+must)[^>]{0,400}-->|"
            r"\bstyle\s*=\s*[\"'][^\"']*(?:display\s*:\s*none|font-size\s*:\s*0|color\s*:\s*white|"
            r"visibility\s*:\s*hidden)[^>]*>[^<]{0,300}\b(?:ignore|assistant|instructions?|you\s+must|ai\b)",
            _I,
        ),
    ),
    (
        JAILBREAK_PERSONA,
        0.85,
        re.compile(
            r"\b(?:act|pretend|roleplay|role-play|play|behave|be)\b[^.\n]{0,40}\b(?:late|deceased|dead)\s+"
            r"(?:grand(?:ma|mother|pa|father)|granny|nan|mother|father|mom|dad|uncle|aunt)\b"
            r"[^.\n]{0,120}\b(?:used\s+to|would)\s+(?:tell|read|explain|recite|give|describe|sing|whisper)|"
            r"\b(?:safety|content|ethic\w*|moral\w*)\s+(?:layers?|filters?|guardrails?|restrictions|"
            r"guidelines|protocols|features?|checks|settings)\s+(?:are|have\s+been|were)\s+(?:now\s+)?"
            r"(?:disabled|off|removed|lifted|turned\s+off|deactivated|suspended|bypassed)|"
            r"\b(?:you\s+are|you'?re)\s+(?:now\s+)?(?:in|running\s+in)\s+(?:debug|maintenance|"
            r"diagnostic|god|admin|root|sudo|unrestricted|developer|test)\s+mode\b|"
            r"\b(?:enter|switch\s+to|activate|enable)\s+(?:debug|maintenance|diagnostic|god|sudo|"
            r"unrestricted|jailbreak)\s+mode\b[^.\n]{0,60}\b(?:dump|print|reveal|show|output|ignore|"
            r"disable|bypass|tell)",
            _I,
        ),
    ),
    (
        PROMPT_EXTRACTION,
        0.85,
        re.compile(
            r"\bwhat(?:'s|\s+is|\s+was)?\s+(?:written|said|stated|contained|included|listed)\s+in\s+"
            r"(?:your|the)\s+(?:system\s+)?(?:instructions|prompt|system\s+message|guidelines|rules)\b|"
            r"\b(?:quote|recite|reproduce|paste|print|repeat)\s+(?:me\s+)?(?:the\s+)?(?:exact\s+|full\s+)?"
            r"(?:wording|text|words|content)\s+(?:you\s+(?:received|were\s+given|got)|of\s+your\s+"
            r"(?:instructions|prompt|system))",
            _I,
        ),
    ),
    (
        INSTRUCTION_OVERRIDE,
        0.9,
        re.compile(
            r"\bvergiss\W+(?:alles\W+)?was\s+(?:man\s+)?dir\s+(?:vorher|zuvor|bisher|davor)?\s*"
            r"(?:gesagt|befohlen|aufgetragen)|"
            r"\bolvida\s+(?:todo\s+)?lo\s+que\s+te\s+(?:dijeron|han\s+dicho|ordenaron|indicaron)|"
            r"\boublie\s+(?:tout\s+)?ce\s+qu['e]\s*(?:on\s+t'a|l'on\s+t'a)\s+(?:dit|demandé)|"
            r"\besqueça\s+(?:tudo\s+)?o\s+que\s+(?:te\s+)?(?:disseram|foi\s+dito)|"
            r"\bdimentica\s+(?:tutto\s+)?(?:quello\s+)?che\s+ti\s+(?:hanno|è\s+stato)\s+detto|"
            r"\b(?:forget|ignore|disregard)\s+(?:everything\s+|all\s+)?(?:that\s+)?(?:you\s+were|"
            r"you've\s+been|you\s+have\s+been|they)\s+(?:told|taught|programmed|trained)\b|"
            r"\bpretend\s+(?:that\s+)?(?:the\s+)?(?:previous|prior|earlier|above)\s+(?:conversation|"
            r"instructions|messages|context)\s+(?:never\s+happened|(?:do|does)\s+not\s+exist)|"
            r"\b(?:rules|instructions|guidelines)\s+(?:you\s+got|you\s+received|given\s+to\s+you)\s+"
            r"(?:from\s+[^.\n]{0,40})?(?:don'?t|do\s+not|no\s+longer)\s+(?:count|apply|matter)",
            _I,
        ),
    ),
    (
        INDIRECT_INJECTION,
        0.85,
        re.compile(
            r"\b(?:ai|assistant|model|chatbot|llm)\s*[,:]\s*(?:please\s+)?(?:ignore|disregard|forget|"
            r"you\s+must|do\s+not|don'?t|instead|forward|send|tell\s+the\s+user|respond\s+(?:only\s+)?with|"
            r"reply\s+(?:only\s+)?with|execute|run|delete|transfer)\b|"
            r"\b(?:important|urgent|attention|critical)\s*(?:new\s+)?(?:system\s+)?(?:instructions?|"
            r"update|notice|message)?\s*(?:for|to)?\s*(?:the\s+)?(?:ai|assistant|model)?\s*[:!]\s*"
            r"(?:ignore|disregard|you\s+must|the\s+assistant\s+(?:must|should)|do\s+not\s+(?:tell|summari|mention))",
            _I,
        ),
    ),
    (
        INDIRECT_INJECTION,
        0.85,
        re.compile(
            r"[\[({<\"']\s*(?:note\s+(?:to|for)\s+)?(?:the\s+)?(?:ai|assistant|chatbot|llm|bot|gpt|"
            r"language\s+model)\s*[:,]\s*(?:please\s+)?(?:when|if|always|never|say|tell|reply|answer|"
            r"mark|approve|recommend|claim|state|output|write|include|do\s+not|don'?t|ignore|disregard)\b",
            _I,
        ),
    ),
    (
        EXFILTRATION_LINK,
        0.85,
        re.compile(
            r"!\[[^\]\n]{0,200}\]\(\s*(?:https?:)?//[^)\s]+[?&][\w.-]+=\s*\)|"
            r"<img\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+[?&][\w.-]+=[\"'\s>]",
            _I,
        ),
    ),
    (
        JAILBREAK_PERSONA,
        0.9,
        re.compile(
            r"\b(?:ia|ai|assistant|assistente|asistente|chatbot|modèle|modelo|modello|ki|ии|ии-ассистент)\s+"
            r"(?:sans|sin|ohne|sem|senza|без)\s+(?:aucune\s+|ninguna\s+|jegliche\s+|nenhuma\s+|alcuna\s+|"
            r"каких-либо\s+|any\s+)?(?:restrict|restricci|einschränk|limit|filt|regl|règl|regel|"
            r"огранич|цензур|фильтр|правил|censur|zensur)|"
            r"\b(?:you\s+are|you're|ты|tu\s+es|eres|du\s+bist|você\s+é|sei)\s+(?:now\s+|теперь\s+|"
            r"maintenant\s+|ahora\s+|jetzt\s+|agora\s+|ora\s+)?DAN\b|"
            r"(?:можешь|может)\s+делать\s+(?:всё|все|что\s+угодно)|"
            r"\b(?:puedes|peux|kannst|pode|puoi)\s+(?:hacer|faire|tun|fazer|fare)\s+"
            r"(?:cualquier\s+cosa|n'importe\s+quoi|alles|qualquer\s+coisa|qualsiasi\s+cosa)",
            _I,
        ),
    ),
)

# Cheap prefilters, one per rule above (same order): a rule's regex runs only when, for
# every group, one of its substrings occurs in the lower-cased text. Each group lists
# words that every match of that rule must contain, so skipping never loses a match.
_TRIGGERS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("ignor", "disregard", "forget", "overr", "bypass", "skip", "neglect", "discard", "drop",
      "abandon", "aside", "throw", "attention", "follow", "cancel", "scrap", "void", "revoke",
      "nullif", "delete", "erase", "clear"),),
    (("ignor", "disregard", "forget", "overr", "bypass"),),
    (("ignor", "disregard", "forget"),),
    (("supersed", "replace", "overrid", "cancel", "you were", "you have been", "have no",
      "had no", "void", "revoked", "obsolete", "outdated", "null"),),
    (("new", "from now on"),),
    (("ignor", "olvid", "oubli", "vergi", "vergess", "esque", "dimentic", "negeer", "vergeet",
      "игнор", "забуд", "忽略", "无视", "忘", "無視", "nueva", "nouvelle", "neue aufgabe",
      "tutto", "tudo"),),
    (("anything now", "dan mode", "developer mode", "jailbr", "stan", "dude", "aim", "ucar",
      "antigpt", "maximum", "apophis", "basedgpt"),),
    (("you are", "you're", "youre", "act as", "pretend", "roleplay", "role-play", "play the role",
      "become", "simulate", "behave like", "respond as"),
     ("without", "no ", "unfilter", "uncensor", "unrestrict", "amoral", "immoral", "unethical",
      "not bound", "free from")),
    (("character", "free", "unfilter", "uncensor", "unrestrict", "broken", "break", "responses",
      "answers", "paragraphs", "would", "refuse", "decline", "say no"),),
    (("ethical", "moral", "legal", "content", "safety"), ("without", "no ", "free of", "ignoring")),
    (("sin ", "sans ", "ohne ", "sem ", "senza ", "без", "没有任何", "不受任何", "无任何"),),
    (("prompt", "instruction", "configuration", "guidelines", "rules", "message"),),
    (("above", "before this", "preceding", "you told", "were told", "was told", "given",
      "beginning of", "prompt", "instruc", "anweisungen", "промпт", "инструкции", "系统",
      "初始指令", "提示词"),),
    (("<|", "[inst", "[/inst", "<<", "<sys", "</sys", "<instruction", "</instruction", "#",
      "system", "sys", "end of", "begin"),),
    (("refuse", "decline", "apologi", "say", "reject", "warn", "include", "add", "mention",
      "character", "start", "begin", "without", "allowed", "permitted", "forbidden",
      "prohibited", "no "),),
    (("](", "<img", "append", "add", "include", "put", "insert", "encode", "embed", "render",
      "display", "show", "output"),),
    (("ai", "a.i.", "assistant", "bot", "llm", "model", "gpt", "claude", "copilot", "agent",
      "summari", "automated", "<!--", "style", "language"),),
    (("late", "deceased", "dead", "safety", "content", "ethic", "moral", "mode"),),
    (("written", "said", "stated", "contained", "included", "listed", "wording", "text",
      "words", "content"),),
    (("vergiss", "olvida", "oublie", "esque", "dimentica", "forget", "ignor", "disregard",
      "pretend", "rules", "instructions", "guidelines"),),
    (("ai", "assistant", "model", "bot", "llm", "important", "urgent", "attention", "critical"),),
    (("ai", "assistant", "bot", "llm", "gpt", "language model"),),
    (("=",),),
    (("sans", "sin ", "ohne", "sem ", "senza", "без", "dan", "делать", "hacer", "faire", "tun",
      "fazer", "fare"),),
)  # fmt: skip
if len(_TRIGGERS) != len(_RULES):  # pragma: no cover - a programming error caught at import
    raise RuntimeError("every injection rule needs its prefilter")
_TRIGGER_SETS: tuple[tuple[frozenset[str], ...], ...] = tuple(
    tuple(frozenset(group) for group in groups) for groups in _TRIGGERS
)
_ALL_TRIGGERS: tuple[str, ...] = tuple(
    sorted({t for groups in _TRIGGERS for g in groups for t in g})
)


def _trie_pattern(words: tuple[str, ...]) -> str:
    """An alternation of ``words`` as a trie (one branch per first letter, greedy = longest)."""
    trie: dict[str, dict[str, Any]] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


_TRIGGER_SCAN = re.compile("(?=(" + _trie_pattern(_ALL_TRIGGERS) + "))")
"""One pass over the lower-cased text: at each position, the longest trigger starting there."""
_PREFIXES: dict[str, frozenset[str]] = {
    f: frozenset(t for t in _ALL_TRIGGERS if f.startswith(t)) for f in _ALL_TRIGGERS
}
"""The triggers that also start where a longer one does (they are its prefixes)."""


def _present_triggers(low: str) -> set[str]:
    """Every trigger substring that occurs in ``low`` (same as testing each with ``in``)."""
    present: set[str] = set()
    for longest in set(_TRIGGER_SCAN.findall(low)):
        present |= _PREFIXES[longest]
    return present


_MENTIONED = re.compile(
    r"(?:[\"'`]|f[\"'])\s*(?:<\||\[/?INST\]|<<|</?sys)|(?:\|>|\]|>>|>)[\"'`]|"
    r"(?:\|>|\]|>>|>)\s+(?:token|tag|delimiter|marker|format|string)s?\b",
    re.IGNORECASE,
)
_TURN = re.compile(
    r"^\s*(?:Q|A|User|Human|Assistant|AI|Bot|Answer|Question|Model|Me|You|H|Usuario|Asistente)\s*\d*\s*:",
    re.IGNORECASE | re.MULTILINE,
)
_COMPLY = re.compile(
    r"^\s*(?:A|Assistant|AI|Bot|Answer|Model)\s*\d*\s*:\s*(?:sure|of\s+course|absolutely|certainly|"
    r"here\s+is|here'?s|step\s+1|no\s+problem|happy\s+to|gladly|okay,?\s+here)",
    re.IGNORECASE | re.MULTILINE,
)
_ASSIGN = re.compile(r"\b([a-zA-Z]\w{0,10})\s*[=:]\s*(['\"])([^'\"\n]{1,200})\2")
_CONCAT = re.compile(r"\b[a-zA-Z]\w{0,10}\s*\+\s*[a-zA-Z]\w{0,10}(?:\s*\+\s*[a-zA-Z]\w{0,10})*")
_SPLIT_INSTR = re.compile(
    r"\b(?:answer|execute|follow|respond\s+to|carry\s+out|do|obey|complete|fulfil+|perform)\b"
    r"[^.\n]{0,40}\b[a-zA-Z]\w{0,10}\s*\+\s*[a-zA-Z]\w{0,10}\b|"
    r"\b(?:combine|concatenate|join|put\s+together|merge|assemble)\b[^.\n]{0,80}"
    r"\b(?:and\s+)?(?:then\s+)?(?:answer|follow|execute|do|respond\s+to|carry\s+out|obey|act\s+on|"
    r"complete)\b|\b(?:answer|follow|execute|respond\s+to|carry\s+out)\s+(?:the\s+)?"
    r"(?:combined|concatenated|resulting|joined|assembled)\s+(?:string|instruction|prompt|question|text)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that matched ``text[start:end]`` of one view."""

    type: str
    score: float
    start: int
    end: int


def _joined_parts(text: str) -> str:
    """The strings a payload-splitting prompt asks the model to concatenate, joined."""
    parts = [m.group(3) for m in _ASSIGN.finditer(text)]
    if len(parts) < 2:
        return ""
    return "".join(parts)


def scan_rules(text: str, *, depth: int = 0) -> list[RuleHit]:
    """Every rule hit in ``text`` (one view). ``depth`` > 0 skips the structural rules."""
    hits: list[RuleHit] = []
    low = text.lower()
    present = _present_triggers(low)
    for (kind, score, pattern), groups in zip(_RULES, _TRIGGER_SETS, strict=True):
        if not all(not present.isdisjoint(group) for group in groups):
            continue
        m = pattern.search(text)
        if m is not None:
            if kind == ROLE_DELIMITER and _MENTIONED.search(
                text, max(m.start() - 2, 0), m.end() + 12
            ):
                score = 0.45  # a delimiter quoted in code or named in a question, not used
            hits.append(RuleHit(kind, score, m.start(), m.end()))
    if depth == 0:
        turns = _TURN.findall(text) if ":" in text else []
        if len(turns) >= 8:
            complying = len(_COMPLY.findall(text))
            score = 0.9 if complying >= 3 else 0.4
            hits.append(RuleHit(MANY_SHOT, score, 0, len(text)))
        if _may_split(text, low) and (_CONCAT.search(text) or _SPLIT_INSTR.search(text)):
            joined = _joined_parts(text)
            inner = scan_rules(joined, depth=1) if joined else []
            if inner:
                hits.append(RuleHit(PAYLOAD_SPLITTING, max(h.score for h in inner), 0, len(text)))
            elif joined and _SPLIT_INSTR.search(text):
                hits.append(RuleHit(PAYLOAD_SPLITTING, 0.7, 0, len(text)))
    return hits


_SPLIT_WORDS = ("combin", "concat", "join", "together", "merg", "assembl", "resulting")
"""Every match of :data:`_SPLIT_INSTR` without a ``+`` holds one of these (lower-cased)."""


def _may_split(text: str, low: str) -> bool:
    """Cheap necessary condition for :data:`_CONCAT` or :data:`_SPLIT_INSTR` to match."""
    return "+" in text or any(w in low for w in _SPLIT_WORDS)


def joined_view(text: str) -> str:
    """The concatenated parts of a split payload, for the classifier to read."""
    if not _may_split(text, text.lower()):
        return ""
    if not (_CONCAT.search(text) or _SPLIT_INSTR.search(text)):
        return ""
    return _joined_parts(text)
